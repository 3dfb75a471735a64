// The issuer's signed revocation feed (Go: issuer/revfeed): a compact JWS of
// type "legant-revocations+jwt" listing revoked tokens, delegations, agents
// and users, with a version that only grows.

import { chain, type Claims } from "./claims.js";
import { JSONNumber, JSONObject, type JSONValue } from "./json.js";
import { verifyCompact, type KeySet } from "./jwt.js";

/** FeedType is the JWS typ of a revocation feed. */
export const FeedType = "legant-revocations+jwt";
/** FeedLeewaySeconds is the clock skew allowed on the feed's iat and exp. */
export const FeedLeewaySeconds = 30;

/** Feed is the payload of a signed revocation feed. */
export interface Feed {
  iss: string;
  iat: number;
  exp: number;
  version: number;
  jti: string[];
  delegations: string[];
  agents: string[];
  users: string[];
}

/** FeedError is a refused feed: "invalid", "expired" or "rollback" (a version older than one accepted). */
export class FeedError extends Error {
  constructor(
    readonly kind: "invalid" | "expired" | "rollback",
    message: string,
  ) {
    super(message);
    this.name = "FeedError";
  }
}

function int(v: JSONValue | undefined, name: string): number {
  if (v === undefined || v === null) return 0;
  if (!(v instanceof JSONNumber) || !/^-?(0|[1-9][0-9]*)$/.test(v.raw)) throw new Error(`${name}: not an integer`);
  const n = Number(v.raw);
  if (!Number.isSafeInteger(n)) throw new Error(`${name}: out of range`);
  return n;
}

function strings(v: JSONValue | undefined, name: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string" && x !== null)) throw new Error(`${name}: not an array of strings`);
  return v.map((x) => (x === null ? "" : (x as string)));
}

function lastMember(o: JSONObject, name: string): JSONValue | undefined {
  let v: JSONValue | undefined;
  for (const [k, x] of o.entries) if (k.toLowerCase() === name) v = x;
  return v;
}

/**
 * verifyFeed checks a feed's signature against ks (the issuer's keys), its
 * type, that now (seconds) is within [iat, exp) give or take the leeway,
 * and that its version is not lower than lastVersion (0 for none). An equal
 * version is accepted: it is the same state, re-signed.
 */
export async function verifyFeed(token: string, ks: KeySet | undefined, now: number, lastVersion: number): Promise<Feed> {
  let payload: JSONValue;
  try {
    payload = await verifyCompact(token, ks, FeedType);
  } catch (e) {
    throw Object.assign(new FeedError("invalid", `invalid revocation feed: ${(e as Error).message}`), { cause: e });
  }
  let f: Feed;
  try {
    if (!(payload instanceof JSONObject)) throw new Error("not an object");
    const s = (k: string) => {
      const v = lastMember(payload as JSONObject, k);
      if (v !== undefined && v !== null && typeof v !== "string") throw new Error(`${k}: not a string`);
      return (v as string | undefined) ?? "";
    };
    f = {
      iss: s("iss"),
      iat: int(lastMember(payload, "iat"), "iat"),
      exp: int(lastMember(payload, "exp"), "exp"),
      version: int(lastMember(payload, "version"), "version"),
      jti: strings(lastMember(payload, "jti"), "jti"),
      delegations: strings(lastMember(payload, "delegations"), "delegations"),
      agents: strings(lastMember(payload, "agents"), "agents"),
      users: strings(lastMember(payload, "users"), "users"),
    };
  } catch (e) {
    throw new FeedError("invalid", `invalid revocation feed: malformed: payload: ${(e as Error).message}`);
  }
  if (f.iss === "" || f.version < 0 || f.exp <= f.iat) {
    throw new FeedError("invalid", "invalid revocation feed: missing iss, negative version or exp not after iat");
  }
  if (f.iat > now + FeedLeewaySeconds) throw new FeedError("invalid", `invalid revocation feed: issued in the future (iat ${f.iat})`);
  if (!(now < f.exp + FeedLeewaySeconds)) throw new FeedError("expired", `revocation feed expired at ${new Date(f.exp * 1000).toISOString()}`);
  if (f.version < lastVersion) throw new FeedError("rollback", `revocation feed older than one already accepted: version ${f.version} < ${lastVersion}`);
  return f;
}

/** RevocationSet is the set of revoked tokens, delegations, agents and users. */
export class RevocationSet {
  private tokens = new Set<string>();
  private delegations = new Set<string>();
  private agents = new Set<string>();
  private users = new Set<string>();

  /** replace makes the set hold exactly the feed's entries. */
  replace(f: Feed): void {
    this.tokens = new Set(f.jti);
    this.delegations = new Set(f.delegations);
    this.agents = new Set(f.agents);
    this.users = new Set(f.users);
  }

  get size(): number {
    return this.tokens.size + this.delegations.size + this.agents.size + this.users.size;
  }

  /** revoked says why a token with claims c is revoked (its jti, delegation, parent delegation, user or an agent of its chain), or undefined. */
  revoked(c: Claims): string | undefined {
    const has = (s: Set<string>, v: string) => v !== "" && s.has(v);
    if (has(this.tokens, c.jti)) return `token ${c.jti} revoked`;
    if (has(this.delegations, c.delegationId)) return `delegation ${c.delegationId} revoked`;
    if (has(this.delegations, c.parentDelegationId)) return `parent delegation ${c.parentDelegationId} revoked`;
    if (has(this.users, c.sub)) return `user ${c.sub} revoked`;
    if (this.agents.size > 0) for (const a of chain(c)) if (has(this.agents, a)) return `agent ${a} revoked`;
    return undefined;
  }
}
