// @openlegant/legant: verify and authorize Legant delegation tokens in
// TypeScript resource servers, with the Go SDK's semantics.
export { createVerifier, wellKnown, type Verifier, type VerifierOptions, type FeedStatus, type DPoPOptions, type RequestInfo } from "./verifier.js";
export {
  DPoPError,
  DPoPAlgorithms,
  DefaultProofMaxAgeSeconds,
  DefaultProofSkewSeconds,
  MaxProofIDLength,
  DefaultReplayCacheSize,
  MemoryReplayCache,
  normalizeUrl,
  jwkThumbprint,
  accessTokenHash,
  verifyProof,
  createProof,
  checkDPoP,
  dpopChallenge,
  parseDPoPMode,
  accessToken,
  type DPoPErrorReason,
  type DPoPMode,
  type DPoPRequest,
  type DPoPCheckOptions,
  type Proof,
  type ProofOptions,
  type ProofVerifyOptions,
  type ReplayCache,
  type Scheme,
} from "./dpop.js";
export { authorize, reserve, type Action } from "./authorize.js";
export {
  decide,
  authorizeCall,
  rpcError,
  deny,
  reasonCode,
  Codes,
  MemoryLedger,
  LedgerDenied,
  noHold,
  parsePointer,
  canonicalResourceOf,
  type Binding,
  type Call,
  type Decision,
  type Reason,
  type RPCError,
  type ResourceKind,
  type Ledger,
  type Hold,
  type Reservation,
} from "./policy.js";
export { VerifyError, errorDescription, type VerifyErrorKind } from "./errors.js";
export { chain, provenance, principal, hasScope, boundKey, type Confirmation, constraintsJSON, parseClaims, DetailType, type Claims, type Constraints, type Actor, type Money } from "./claims.js";
export { Decimal, parseDecimal, MaxDecimalDigits } from "./decimal.js";
export { AllowSet } from "./set.js";
export { normalizeCategory, caseFold } from "./category.js";
export { canonicalResource } from "./resource.js";
export { windowContains, windowString, type Window, type Segment } from "./window.js";
export { KeySet, verifyToken, verifyCompact, TokenType, type VerifyOptions } from "./jwt.js";
export { verifyFeed, RevocationSet, FeedError, FeedType, type Feed } from "./revfeed.js";
export { parseJSON, JSONNumber, JSONObject, type JSONValue } from "./json.js";
export { bearerToken, challenge, denial, authenticate, requestInfo, type MiddlewareOptions, type Refusal } from "./http.js";
