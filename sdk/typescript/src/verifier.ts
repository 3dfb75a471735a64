// createVerifier: offline verification of delegation tokens for one
// resource, against one issuer (Go: sdk.Verifier). The issuer's key set and
// signed revocation feed are fetched and refreshed in the background; no
// request ever waits on the issuer, except a token naming an unknown kid,
// which triggers one key refresh, rate-limited.

import { readFile } from "node:fs/promises";
import { authorizeCall, MemoryLedger, type Binding, type Call, type Decision, type Hold, type Ledger } from "./policy.js";
import { reserve, type Action } from "./authorize.js";
import { boundKey, type Claims } from "./claims.js";
import { accessToken, checkDPoP, DPoPError, MemoryReplayCache, parseDPoPMode, type DPoPMode, type ReplayCache } from "./dpop.js";
import { VerifyError } from "./errors.js";
import { KeySet, verifyToken, type VerifyOptions } from "./jwt.js";
import { RevocationSet, verifyFeed, FeedError } from "./revfeed.js";

export const DefaultFeedIntervalMs = 30_000;
export const DefaultJWKSIntervalMs = 5 * 60_000;
export const DefaultMinRefreshIntervalMs = 30_000;
export const DefaultHTTPTimeoutMs = 10_000;
/** A zero maxFeedAgeMs means this many feed intervals. */
export const DefaultFeedAgeFactor = 4;
/** MaxDocumentSize bounds every document read (metadata, JWKS, feed). */
export const MaxDocumentSize = 1 << 20;
/** MaxCachedTokens bounds the verified-token cache. */
export const MaxCachedTokens = 10_000;

/** VerifierOptions tune a Verifier; every field is optional. */
export interface VerifierOptions {
  /** Where the key set is fetched; default: discovered from the issuer's RFC 8414 metadata (jwks_uri), or issuer + "/.well-known/jwks.json" when it publishes none (404). */
  jwksUrl?: string;
  /** Offline setups: read the key set from this file instead. */
  jwksFile?: string;
  /** Where the signed revocation feed is polled; default issuer + "/.well-known/revoked". */
  feedUrl?: string;
  /** Offline setups: read the signed feed from this file instead. */
  feedFile?: string;
  /** How often the feed is polled; default 30 s. */
  feedIntervalMs?: number;
  /** How often the key set is refreshed; default 5 min. */
  jwksIntervalMs?: number;
  /** At most one refresh caused by an unknown kid per this interval since the last fetch; default 30 s. */
  minRefreshIntervalMs?: number;
  /**
   * Fail closed: verify throws VerifyError "feed_stale" while the newest
   * accepted feed is older than maxFeedAgeMs (or none was accepted). False
   * (the default) fails open: tokens keep verifying with the revocations
   * last known, bounded by their own short lifetime.
   */
  requireFreshFeed?: boolean;
  /** Age (since the feed's iat) beyond which the feed is stale; default 4 × feedIntervalMs. */
  maxFeedAgeMs?: number;
  /** Permit http:// URLs (tests on loopback). Default: https only. */
  allowHttp?: boolean;
  /** Timeout of each fetch; default 10 s. */
  httpTimeoutMs?: number;
  /** The fetch implementation; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Clock skew allowed on exp, nbf and iat, in seconds; default 30, 0 = none. */
  leewaySeconds?: number;
  /** Algorithms allowed; default ["EdDSA", "RS256"]. */
  algorithms?: string[];
  /** Budgets and call counts for reserve and the guards; default a MemoryLedger private to this verifier. */
  ledger?: Ledger;
  /** The clock; default () => new Date(). */
  now?: () => Date;
  /** Called after every feed poll with the status; must not throw. */
  onFeed?: (s: FeedStatus) => void;
  /**
   * How sender-constrained tokens (RFC 9449) are treated; default mode
   * "allow" with a replay cache of this process, each request's URL taken
   * from its Host header.
   */
  dpop?: DPoPOptions;
}

/** DPoPOptions configure DPoP (RFC 9449) for verifyRequest and the middleware. */
export interface DPoPOptions {
  /** "allow" (default) accepts bearer and bound tokens, "require" only bound ones, "bearer" only bearer ones. */
  mode?: DPoPMode;
  /**
   * This resource's external base URL (scheme://host[:port]) against which
   * proofs' htu is checked — required behind a reverse proxy; default: from
   * each request (its TLS state and Host header).
   */
  publicUrl?: string;
  /** Remembers accepted proofs; default a MemoryReplayCache of this process. Replicas must share one. */
  cache?: ReplayCache;
}

/** What verifyRequest reads of an HTTP request. */
export interface RequestInfo {
  /** The Authorization header (its values). */
  authorization: string | string[] | undefined;
  /** The DPoP header (its values). */
  dpop: string | string[] | undefined;
  method: string;
  /** The request target as received (path and query; the query is ignored). */
  path: string;
  /** The Host header; used without dpop.publicUrl. */
  host?: string;
  /** Whether the connection was TLS; used without dpop.publicUrl. */
  secure?: boolean;
}

/** FeedStatus describes the revocation feed as the verifier last saw it. */
export interface FeedStatus {
  /** Highest version accepted; 0 before the first. */
  version: number;
  /** iat of the newest accepted feed (seconds); undefined before the first. */
  issuedAt?: number;
  entries: number;
  checkedAt?: Date;
  /** Error of the last poll; undefined when it succeeded. A refused rollback is a FeedError of kind "rollback". */
  error?: Error;
}

/** Verifier verifies tokens for one audience against one issuer; see createVerifier. */
export interface Verifier {
  readonly issuer: string;
  readonly audience: string;
  /**
   * verify verifies a token as the gateway does and refuses it if the
   * revocation feed covers it; it throws a VerifyError. It has no request to
   * check a DPoP proof against, so it refuses a token bound to a key
   * (DPoPError "bound_as_bearer"): use verifyRequest or the middleware.
   */
  verify(token: string): Promise<Claims>;
  /**
   * verifyRequest verifies the access token of a request — presented with
   * the Bearer or the DPoP scheme — as verify does, then applies DPoP (RFC
   * 9449, checkDPoP with the verifier's dpop options): a bound token is
   * accepted only with the DPoP scheme and a fresh proof by its key for this
   * method, URL and token. It throws a VerifyError (kind "no_token" without
   * a token) or a DPoPError.
   */
  verifyRequest(r: RequestInfo): Promise<Claims>;
  /** The DPoP mode in force. */
  readonly dpopMode: DPoPMode;
  /** reserve is authorize plus budget and max_calls on the verifier's ledger; settle or release the hold. */
  reserve(claims: Claims, action: Action): Promise<{ decision: Decision; hold?: Hold }>;
  /** authorizeCall decides one MCP tools/call as the gateway does (b undefined = tool not registered). */
  authorizeCall(claims: Claims, b: Binding | undefined, call: Call): Promise<{ decision: Decision; hold?: Hold }>;
  /** The RFC 9728 metadata URL of this resource, or "" when the audience is not an absolute URL. */
  resourceMetadataUrl(): string;
  /** RFC 9728 metadata of this resource. */
  protectedResourceMetadata(scopes?: string[]): Record<string, unknown>;
  feedStatus(): FeedStatus;
  /** Milliseconds since the newest accepted feed was issued; Infinity before any. */
  feedAgeMs(): number;
  refreshFeed(): Promise<void>;
  refreshKeys(): Promise<void>;
  /** close stops the background refreshes; verify keeps working with what is known. */
  close(): void;
}

class NotFound extends Error {}

class Fetcher {
  constructor(
    private readonly f: typeof fetch,
    private readonly timeoutMs: number,
    private readonly allowHttp: boolean,
  ) {}

  checkURL(u: URL): void {
    if (u.protocol === "https:" && u.host) return;
    if (u.protocol === "http:" && u.host) {
      if (this.allowHttp) return;
      throw new Error(`${u.origin}${u.pathname}: https is required (allowHttp allows http)`);
    }
    throw new Error(`${JSON.stringify(u.href)} is not an absolute https URL`);
  }

  async get(raw: string, accept: string): Promise<string> {
    let u = new URL(raw);
    for (let hops = 0; ; hops++) {
      this.checkURL(u);
      const resp = await this.f(u, { headers: { accept }, redirect: "manual", signal: AbortSignal.timeout(this.timeoutMs) });
      if (resp.status >= 300 && resp.status < 400 && resp.headers.get("location")) {
        await resp.body?.cancel();
        if (hops >= 4) throw new Error("stopped after 5 redirects");
        u = new URL(resp.headers.get("location")!, u);
        continue;
      }
      const where = `GET ${u.origin}${u.pathname}`;
      if (resp.status === 404) {
        await resp.body?.cancel();
        throw new NotFound(`${where}: not found`);
      }
      if (resp.status !== 200) {
        await resp.body?.cancel();
        throw new Error(`${where}: ${resp.status} ${resp.statusText}`);
      }
      const len = Number(resp.headers.get("content-length") ?? "0");
      if (len > MaxDocumentSize) {
        await resp.body?.cancel();
        throw new Error(`${where}: document larger than ${MaxDocumentSize} bytes`);
      }
      const buf = new Uint8Array(await resp.arrayBuffer());
      if (buf.length > MaxDocumentSize) throw new Error(`${where}: document larger than ${MaxDocumentSize} bytes`);
      return new TextDecoder().decode(buf);
    }
  }
}

async function readLimited(path: string): Promise<string> {
  const b = await readFile(path);
  if (b.length > MaxDocumentSize) throw new Error(`${path}: document larger than ${MaxDocumentSize} bytes`);
  return b.toString("utf8");
}

/** wellKnown returns the RFC 8414 §3.1 URL: the well-known segment goes between the host and the path. */
export function wellKnown(base: string, name: string): string {
  const u = new URL(base);
  if (u.search || u.hash) throw new Error("issuer URL must have no query or fragment");
  const path = u.pathname === "/" ? "" : u.pathname.replace(/\/$/, "");
  return `${u.origin}/.well-known/${name}${path}`;
}

/**
 * createVerifier builds a Verifier for tokens issued by issuer (their exact
 * iss) for audience (this resource, compared canonically with aud). It
 * fetches the key set (rejecting if that fails: nothing could verify) and
 * polls the revocation feed once (a failure there is reported by
 * feedStatus, not thrown), then keeps both fresh in the background until
 * close(). Background timers do not keep the process alive.
 */
export async function createVerifier(issuer: string, audience: string, opts: VerifierOptions = {}): Promise<Verifier> {
  let iu: URL;
  try {
    iu = new URL(issuer);
  } catch {
    throw new Error(`legant: issuer ${JSON.stringify(issuer)} is not an absolute URL`);
  }
  if (!iu.host) throw new Error(`legant: issuer ${JSON.stringify(issuer)} is not an absolute URL`);
  if (audience.trim() === "") throw new Error("legant: audience is required");
  const now = opts.now ?? (() => new Date());
  const feedInterval = opts.feedIntervalMs && opts.feedIntervalMs > 0 ? opts.feedIntervalMs : DefaultFeedIntervalMs;
  const jwksInterval = opts.jwksIntervalMs && opts.jwksIntervalMs > 0 ? opts.jwksIntervalMs : DefaultJWKSIntervalMs;
  const minRefresh = opts.minRefreshIntervalMs && opts.minRefreshIntervalMs > 0 ? opts.minRefreshIntervalMs : DefaultMinRefreshIntervalMs;
  const maxFeedAge = opts.maxFeedAgeMs && opts.maxFeedAgeMs > 0 ? opts.maxFeedAgeMs : DefaultFeedAgeFactor * feedInterval;
  const ledger = opts.ledger ?? new MemoryLedger();
  const fetcher = new Fetcher(opts.fetch ?? globalThis.fetch, opts.httpTimeoutMs && opts.httpTimeoutMs > 0 ? opts.httpTimeoutMs : DefaultHTTPTimeoutMs, !!opts.allowHttp);
  const vopts: VerifyOptions = { issuer, audience, leewaySeconds: opts.leewaySeconds, algorithms: opts.algorithms, requireActor: true };
  const trimmedIssuer = issuer.replace(/\/$/, "");
  const dpopMode = parseDPoPMode(opts.dpop?.mode);
  const replay: ReplayCache = opts.dpop?.cache ?? new MemoryReplayCache(undefined, now);
  const publicUrl = (opts.dpop?.publicUrl ?? "").replace(/\/$/, "");

  // ---- the key set ----
  let discovered = "";
  async function jwksUri(): Promise<string> {
    if (opts.jwksUrl) return opts.jwksUrl;
    if (discovered) return discovered;
    const md = wellKnown(issuer, "oauth-authorization-server");
    let body: string;
    try {
      body = await fetcher.get(md, "application/json");
    } catch (e) {
      if (e instanceof NotFound) return (discovered = trimmedIssuer + "/.well-known/jwks.json");
      throw new Error(`legant: issuer metadata: ${(e as Error).message}`);
    }
    let doc: { issuer?: unknown; jwks_uri?: unknown };
    try {
      doc = JSON.parse(body);
    } catch (e) {
      throw new Error(`legant: issuer metadata at ${md}: ${(e as Error).message}`);
    }
    if (doc.issuer !== issuer) throw new Error(`legant: issuer metadata at ${md} names issuer ${JSON.stringify(doc.issuer)}, want ${JSON.stringify(issuer)}`);
    if (typeof doc.jwks_uri !== "string" || doc.jwks_uri === "") throw new Error(`legant: issuer metadata at ${md} has no jwks_uri`);
    return (discovered = doc.jwks_uri);
  }
  async function loadKeys(): Promise<KeySet> {
    if (opts.jwksFile) return KeySet.parse(await readLimited(opts.jwksFile));
    const uri = await jwksUri();
    let body: string;
    try {
      body = await fetcher.get(uri, "application/jwk-set+json, application/json");
    } catch (e) {
      throw new Error(`legant: fetch JWKS: ${(e as Error).message}`);
    }
    return KeySet.parse(body);
  }
  let keys: KeySet | undefined;
  let lastFetch = 0;
  let fetching: Promise<void> | undefined;
  // fetchKeys is single-flight: concurrent callers share one fetch.
  function fetchKeys(): Promise<void> {
    if (!fetching) {
      lastFetch = now().getTime();
      fetching = loadKeys()
        .then((ks) => {
          keys = ks;
        })
        .finally(() => {
          fetching = undefined;
        });
    }
    return fetching;
  }
  // refreshUnknown reports whether a newer key set than seen is available to retry with.
  async function refreshUnknown(seen: KeySet | undefined): Promise<boolean> {
    if (fetching) await fetching.catch(() => {});
    if (keys !== seen) return true;
    if (lastFetch !== 0 && now().getTime() - lastFetch < minRefresh) return false;
    try {
      await fetchKeys();
    } catch {
      return false;
    }
    return keys !== seen;
  }

  // ---- the revocation feed ----
  const revoked = new RevocationSet();
  const status: FeedStatus = { version: 0, entries: 0 };
  const feedUrl = opts.feedUrl || trimmedIssuer + "/.well-known/revoked";
  let polling: Promise<void> = Promise.resolve();
  async function pollOnce(): Promise<void> {
    const raw = opts.feedFile ? await readLimited(opts.feedFile) : await fetcher.get(feedUrl, "application/jwt");
    const tok = raw.trim();
    const nowS = now().getTime() / 1000;
    const seen = keys;
    let feed;
    try {
      feed = await verifyFeed(tok, seen, nowS, status.version);
    } catch (e) {
      if (e instanceof FeedError && (e.cause as VerifyError | undefined)?.kind === "unknown_key" && (await refreshUnknown(seen))) {
        feed = await verifyFeed(tok, keys, nowS, status.version);
      } else throw e;
    }
    if (feed.iss !== issuer) throw new FeedError("invalid", `invalid revocation feed: issuer ${JSON.stringify(feed.iss)}, want ${JSON.stringify(issuer)}`);
    revoked.replace(feed);
    status.version = feed.version;
    if (status.issuedAt === undefined || feed.iat > status.issuedAt) status.issuedAt = feed.iat;
    status.entries = revoked.size;
  }
  function poll(): Promise<void> {
    // Polls are serialized, so that the rollback check and the update are one step.
    const p = polling.then(async () => {
      let err: Error | undefined;
      try {
        await pollOnce();
      } catch (e) {
        err = e instanceof Error ? e : new Error(String(e));
      }
      status.checkedAt = now();
      status.error = err;
      opts.onFeed?.({ ...status });
      if (err) throw err;
    });
    polling = p.catch(() => {});
    return p;
  }
  const feedAgeMs = () => (status.issuedAt === undefined ? Infinity : Math.max(now().getTime() - status.issuedAt * 1000, 0));

  // ---- verified tokens ----
  const cache = new Map<string, { claims: Claims; keys: KeySet }>();
  async function verifyUncached(token: string): Promise<Claims> {
    const nowS = now().getTime() / 1000;
    const ks = keys;
    const hit = cache.get(token);
    if (hit && ks && hit.keys === ks && nowS < (hit.claims.exp ?? 0)) return hit.claims;
    let c: Claims;
    let used = ks;
    try {
      c = await verifyToken(token, ks, vopts, nowS);
    } catch (e) {
      if (!(e instanceof VerifyError && e.kind === "unknown_key" && (await refreshUnknown(ks)))) throw e;
      used = keys;
      c = await verifyToken(token, used, vopts, nowS);
    }
    if (used) {
      if (cache.size >= MaxCachedTokens) {
        for (const [k, v] of cache) if (!(nowS < (v.claims.exp ?? 0))) cache.delete(k);
        if (cache.size >= MaxCachedTokens) cache.clear();
      }
      cache.set(token, { claims: c, keys: used });
    }
    return c;
  }

  await fetchKeys();
  await poll().catch(() => {}); // the failure is in feedStatus; requireFreshFeed decides what it means
  const timers = [
    setInterval(() => void poll().catch(() => {}), feedInterval),
    setInterval(() => void fetchKeys().catch(() => {}), jwksInterval),
  ];
  for (const t of timers) t.unref();

  // verifyUnbound is verify without the refusal of bound tokens.
  async function verifyUnbound(token: string): Promise<Claims> {
    if (opts.requireFreshFeed && feedAgeMs() > maxFeedAge) {
      const when = status.issuedAt === undefined ? "none" : "issued " + new Date(status.issuedAt * 1000).toISOString();
      throw new VerifyError("feed_stale", `revocation feed is stale (newest accepted feed: ${when})`);
    }
    const c = await verifyUncached(token);
    const why = revoked.revoked(c);
    if (why) throw new VerifyError("revoked", `token revoked: ${why}`);
    return c;
  }

  return {
    issuer,
    audience,
    dpopMode,
    async verify(token: string): Promise<Claims> {
      const c = await verifyUnbound(token);
      if (boundKey(c) !== "") throw new DPoPError("bound_as_bearer");
      return c;
    },
    async verifyRequest(r: RequestInfo): Promise<Claims> {
      const at = accessToken(r.authorization);
      if (!at) throw new VerifyError("no_token", "no access token");
      const c = await verifyUnbound(at.token);
      const proofs = r.dpop === undefined ? [] : Array.isArray(r.dpop) ? r.dpop : [r.dpop];
      const q = r.path.indexOf("?");
      const path = q < 0 ? r.path : r.path.slice(0, q);
      const base = publicUrl || (r.secure ? "https://" : "http://") + (r.host ?? "");
      await checkDPoP({ scheme: at.scheme, token: at.token, claims: c, proofs, method: r.method, url: base + path },
        { mode: dpopMode, cache: replay }, now().getTime() / 1000);
      return c;
    },
    reserve: (claims, action) => reserve(claims, action, ledger, now),
    authorizeCall: (claims, b, call) => authorizeCall(claims, b, { ...call, at: call.at ?? now() }, ledger),
    resourceMetadataUrl(): string {
      try {
        const u = new URL(audience);
        if (!u.host || !/^[a-z][a-z0-9+.-]*:\/\//i.test(audience)) return "";
        return wellKnown(audience, "oauth-protected-resource");
      } catch {
        return "";
      }
    },
    protectedResourceMetadata(scopes?: string[]) {
      const md: Record<string, unknown> = { resource: audience, authorization_servers: [issuer], bearer_methods_supported: ["header"] };
      if (scopes?.length) md.scopes_supported = scopes;
      return md;
    },
    feedStatus: () => ({ ...status, entries: revoked.size }),
    feedAgeMs,
    refreshFeed: () => poll(),
    refreshKeys: () => fetchKeys(),
    close() {
      for (const t of timers) clearInterval(t);
    },
  };
}
