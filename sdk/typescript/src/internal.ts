// Re-exports for the adapters, so that each imports one module.
export { deny, rpcError, type Decision, type Hold } from "./policy.js";
export { hasScope as hasScopeOf } from "./claims.js";
