// The HTTP side shared by the framework adapters: bearer extraction, and
// refusals with RFC 6750 challenges and the Go middleware's texts
// (sdk/middleware.go), as plain values each adapter writes.

import type { Action } from "./authorize.js";
import type { Claims } from "./claims.js";
import { DPoPError, dpopChallenge } from "./dpop.js";
import { errorDescription, VerifyError } from "./errors.js";
import { deny, hasScopeOf, rpcError, type Decision, type Hold } from "./internal.js";
import type { RequestInfo, Verifier } from "./verifier.js";

/** A response the adapter sends as is. */
export interface Refusal {
  status: number;
  /** A header with several values (WWW-Authenticate: Bearer …, DPoP …) is an array. */
  headers: Record<string, string | string[]>;
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

function jsonHeaders(extra: Record<string, string | string[]> = {}): Record<string, string | string[]> {
  return { "content-type": "application/json", "cache-control": "no-store", ...extra };
}

/**
 * challenge builds an RFC 6750 refusal; code "" is a request without
 * credentials (no error attribute). also are more challenges after the
 * Bearer one (a DPoP challenge).
 */
export function challenge(status: number, metadata: string, code: string, desc: string, scope: string, decision?: Record<string, unknown>, also: string[] = []): Refusal {
  const params: string[] = [];
  if (metadata) params.push(`resource_metadata=${JSON.stringify(metadata)}`);
  if (code) params.push(`error="${code}"`, `error_description="${quotable(desc)}"`);
  if (scope) params.push(`scope=${JSON.stringify(scope)}`);
  const body: Record<string, unknown> = { error: code || "invalid_request" };
  if (desc) body.error_description = desc;
  if (decision) body.decision = decision;
  const bearer = ("Bearer " + params.join(", ")).trim();
  return { status, headers: jsonHeaders({ "www-authenticate": also.length ? [bearer, ...also] : bearer }), body };
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

/**
 * authenticate verifies the request's token (verifier.verifyRequest: the
 * Bearer or DPoP scheme, a DPoP proof for a bound token) and the required
 * scope; it returns the claims or the refusal of Go's sdk middleware: a
 * refusal also carries the DPoP challenge unless the mode is "bearer", with
 * the error there when it is about the proof (RFC 9449 §7.1). Given only
 * the Authorization header's values, there is no proof: a bound token is
 * refused.
 */
export async function authenticate(v: Verifier, req: RequestInfo | string | string[] | undefined, metadata: string, scope: string): Promise<{ claims: Claims } | { refusal: Refusal }> {
  const r: RequestInfo = req === undefined || typeof req === "string" || Array.isArray(req) ? { authorization: req, dpop: undefined, method: "GET", path: "/" } : req;
  let c: Claims;
  try {
    c = await v.verifyRequest(r);
  } catch (e) {
    const proofError = e instanceof DPoPError && e.code !== "invalid_token" ? e : undefined;
    const also = v.dpopMode === "bearer" ? [] : [dpopChallenge(proofError)];
    if (e instanceof VerifyError && e.kind === "no_token") return { refusal: challenge(401, metadata, "", "a bearer token is required", scope, undefined, also) };
    if (e instanceof VerifyError && e.kind === "feed_stale") {
      return { refusal: { status: 503, headers: jsonHeaders(), body: { error: "temporarily_unavailable", error_description: errorDescription(e) } } };
    }
    if (proofError) {
      const www = [`Bearer resource_metadata=${JSON.stringify(metadata)}`, ...also];
      return { refusal: { status: 401, headers: jsonHeaders({ "www-authenticate": www }), body: { error: proofError.code, error_description: proofError.description } } };
    }
    return { refusal: challenge(401, metadata, "invalid_token", errorDescription(e), scope, undefined, also) };
  }
  if (scope && !hasScopeOf(c, scope)) return { refusal: challenge(403, metadata, "insufficient_scope", "the token lacks scope " + scope, scope) };
  return { claims: c };
}

/** requestInfo reads what verifyRequest needs from a Node request (Express, Fastify's raw request, node:http). */
export function requestInfo(req: {
  method?: string;
  url?: string;
  originalUrl?: string;
  headers: Record<string, string | string[] | undefined>;
  headersDistinct?: Record<string, string[] | undefined>;
  socket?: unknown;
}): RequestInfo {
  const h = (name: string) => (req.headers[name] === undefined ? undefined : req.headersDistinct?.[name] ?? req.headers[name]);
  const host = req.headers.host;
  return {
    authorization: h("authorization"),
    dpop: h("dpop"),
    method: req.method ?? "GET",
    path: req.originalUrl ?? req.url ?? "/",
    host: Array.isArray(host) ? host[0] : host,
    secure: !!(req.socket as { encrypted?: boolean } | undefined)?.encrypted,
  };
}

/** admit runs authenticate, then the request's action (when set) on the verifier's ledger. */
export async function admit<Req>(v: Verifier, req: Req, info: RequestInfo, o: MiddlewareOptions<Req>): Promise<{ claims: Claims; hold?: Hold } | { refusal: Refusal }> {
  const metadata = o.resourceMetadata ?? v.resourceMetadataUrl();
  const a = await authenticate(v, info, metadata, o.scope ?? "");
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
