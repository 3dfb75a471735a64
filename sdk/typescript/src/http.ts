// The HTTP side shared by the framework adapters: bearer extraction, and
// refusals with RFC 6750 challenges and the Go middleware's texts
// (sdk/middleware.go), as plain values each adapter writes.

import type { Action } from "./authorize.js";
import type { Claims } from "./claims.js";
import { errorDescription, VerifyError } from "./errors.js";
import { deny, hasScopeOf, rpcError, type Decision, type Hold } from "./internal.js";
import type { Verifier } from "./verifier.js";

/** A response the adapter sends as is. */
export interface Refusal {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** MiddlewareOptions tune the Express and Fastify middleware. */
export interface MiddlewareOptions<Req> {
  /** URL of this resource's RFC 9728 metadata, named in WWW-Authenticate; default verifier.resourceMetadataUrl(). */
  resourceMetadata?: string;
  /** A scope every request needs: without it, 403 insufficient_scope. */
  scope?: string;
  /**
   * What a request does; when set, the middleware reserves it (policy,
   * budget, max_calls) before the handler runs and answers 403 on denial.
   * The hold is settled when the response status is below 400 and released
   * otherwise. A thrown error is answered 400 with its message.
   */
  action?: (req: Req) => Action | Promise<Action>;
}

/** bearerToken extracts an RFC 6750 bearer token: exactly one Authorization header, scheme "Bearer" in any case. */
export function bearerToken(authorization: string | string[] | undefined): string | undefined {
  const values = authorization === undefined ? [] : Array.isArray(authorization) ? authorization : [authorization];
  if (values.length !== 1) return undefined;
  const v = values[0];
  const sp = v.indexOf(" ");
  if (sp < 0 || v.slice(0, sp).toLowerCase() !== "bearer") return undefined;
  const tok = v.slice(sp + 1).trim();
  return tok === "" ? undefined : tok;
}

// quotable keeps a description inside RFC 6750's allowed characters.
function quotable(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += "'";
    else if (c < 0x20 || c > 0x7e || ch === "\\") out += "?";
    else out += ch;
  }
  return out;
}

function jsonHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { "content-type": "application/json", "cache-control": "no-store", ...extra };
}

/** challenge builds an RFC 6750 refusal; code "" is a request without credentials (no error attribute). */
export function challenge(status: number, metadata: string, code: string, desc: string, scope: string, decision?: Record<string, unknown>): Refusal {
  const params: string[] = [];
  if (metadata) params.push(`resource_metadata=${JSON.stringify(metadata)}`);
  if (code) params.push(`error="${code}"`, `error_description="${quotable(desc)}"`);
  if (scope) params.push(`scope=${JSON.stringify(scope)}`);
  const body: Record<string, unknown> = { error: code || "invalid_request" };
  if (desc) body.error_description = desc;
  if (decision) body.decision = decision;
  return { status, headers: jsonHeaders({ "www-authenticate": ("Bearer " + params.join(", ")).trim() }), body };
}

/** denial is the refusal of a policy decision: 403 insufficient_scope with the decision, or 503 when it could not be made. */
export function denial(d: Decision, metadata: string): Refusal {
  const e = rpcError(d) ?? rpcError(deny("tool_not_bound", "no decision"))!;
  if (d.reason === "unavailable") {
    return { status: 503, headers: jsonHeaders(), body: { error: "temporarily_unavailable", error_description: e.message, decision: e.data } };
  }
  const scope = d.reason === "insufficient_scope" ? d.limit : "";
  return challenge(403, metadata, "insufficient_scope", e.message, scope, e.data);
}

/** authenticate verifies the bearer token and the required scope; it returns the claims or the refusal. */
export async function authenticate(v: Verifier, authorization: string | string[] | undefined, metadata: string, scope: string): Promise<{ claims: Claims } | { refusal: Refusal }> {
  const token = bearerToken(authorization);
  if (!token) return { refusal: challenge(401, metadata, "", "a bearer token is required", scope) };
  let c: Claims;
  try {
    c = await v.verify(token);
  } catch (e) {
    if (e instanceof VerifyError && e.kind === "feed_stale") {
      return { refusal: { status: 503, headers: jsonHeaders(), body: { error: "temporarily_unavailable", error_description: errorDescription(e) } } };
    }
    return { refusal: challenge(401, metadata, "invalid_token", errorDescription(e), scope) };
  }
  if (scope && !hasScopeOf(c, scope)) return { refusal: challenge(403, metadata, "insufficient_scope", "the token lacks scope " + scope, scope) };
  return { claims: c };
}

/** admit runs authenticate, then the request's action (when set) on the verifier's ledger. */
export async function admit<Req>(v: Verifier, req: Req, authorization: string | string[] | undefined, o: MiddlewareOptions<Req>): Promise<{ claims: Claims; hold?: Hold } | { refusal: Refusal }> {
  const metadata = o.resourceMetadata ?? v.resourceMetadataUrl();
  const a = await authenticate(v, authorization, metadata, o.scope ?? "");
  if ("refusal" in a || !o.action) return a;
  let action: Action;
  try {
    action = await o.action(req);
  } catch (e) {
    return { refusal: { status: 400, headers: jsonHeaders(), body: { error: "invalid_request", error_description: (e as Error).message } } };
  }
  const { decision, hold } = await v.reserve(a.claims, action);
  if (!decision.allow) return { refusal: denial(decision, metadata) };
  return { claims: a.claims, hold };
}
