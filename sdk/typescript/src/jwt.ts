// Compact JWS verification with the rules of authority.Verify: explicit
// algorithm allow-list (EdDSA, RS256), typ, no crit, kid of the same alg,
// strict base64url, then the claims in a fixed order.

import { compactVerify, importJWK, errors as joseErrors } from "jose";
import { parseClaims, type Claims } from "./claims.js";
import { VerifyError } from "./errors.js";
import { JSONObject, parseJSON, type JSONValue } from "./json.js";
import { canonicalResource } from "./resource.js";

export const AlgEdDSA = "EdDSA";
export const AlgRS256 = "RS256";
/** TokenType is the JOSE typ of a delegation token (RFC 9068). */
export const TokenType = "at+jwt";
/** DefaultLeewaySeconds is the clock skew allowed on exp, nbf and iat by default. */
export const DefaultLeewaySeconds = 30;
const maxTokenSize = 64 << 10;

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

interface KeyEntry {
  kid: string;
  alg: string;
  key: VerifyKey;
}

/** KeySet is a verify-only JSON Web Key Set (Ed25519 and RSA keys). Immutable. */
export class KeySet {
  private constructor(private readonly keys: ReadonlyMap<string, KeyEntry>) {}

  get size(): number {
    return this.keys.size;
  }

  lookup(kid: string): KeyEntry | undefined {
    return this.keys.get(kid);
  }

  /**
   * parse reads an RFC 7517 key set as authority.ParseJWKS does: keys of
   * other types or algorithms are skipped; a malformed Ed25519 or RSA key, a
   * duplicate or missing kid, or private key material is an error.
   */
  static async parse(text: string): Promise<KeySet> {
    let doc: JSONValue;
    try {
      doc = parseJSON(text);
    } catch {
      throw new VerifyError("malformed", 'malformed: JWKS: want {"keys":[…]}');
    }
    const keysV = doc instanceof JSONObject ? lastMember(doc, "keys") : undefined;
    if (!Array.isArray(keysV)) throw new VerifyError("malformed", 'malformed: JWKS: want {"keys":[…]}');
    const out = new Map<string, KeyEntry>();
    for (let i = 0; i < keysV.length; i++) {
      const e = await parseJWK(keysV[i]).catch((err: Error) => {
        throw new VerifyError("malformed", `malformed: JWKS key ${i}: ${err.message}`);
      });
      if (!e) continue;
      if (out.has(e.kid)) throw new VerifyError("malformed", `malformed: JWKS: duplicate kid ${JSON.stringify(e.kid)}`);
      out.set(e.kid, e);
    }
    return new KeySet(out);
  }
}

// lastMember reads a member as encoding/json does for a struct field: the
// last of the keys equal to name under case folding.
function lastMember(o: JSONObject, name: string): JSONValue | undefined {
  let v: JSONValue | undefined;
  for (const [k, x] of o.entries) if (k.toLowerCase() === name) v = x;
  return v;
}

function str(o: JSONObject, name: string): string {
  const v = lastMember(o, name);
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new Error(`${name}: not a string`);
  return v;
}

const strictB64 = /^[A-Za-z0-9_-]*$/;

function b64decode(s: string): Buffer | undefined {
  if (!strictB64.test(s) || s.length % 4 === 1) return undefined;
  const b = Buffer.from(s, "base64url");
  return b.toString("base64url") === s ? b : undefined;
}

async function parseJWK(v: JSONValue): Promise<KeyEntry | undefined> {
  if (!(v instanceof JSONObject)) throw new Error("not an object");
  const kty = str(v, "kty"), crv = str(v, "crv"), x = str(v, "x"), n = str(v, "n"), e = str(v, "e");
  const kid = str(v, "kid"), alg = str(v, "alg"), use = str(v, "use"), d = str(v, "d");
  if (d !== "") throw new Error("private key material in a public JWKS");
  if (use !== "" && use !== "sig") return undefined;
  if (kty === "OKP" && crv === "Ed25519" && (alg === "" || alg === AlgEdDSA)) {
    const raw = b64decode(x);
    if (!raw || raw.length !== 32) throw new Error("bad Ed25519 x");
    if (kid === "") throw new Error("key without kid");
    return { kid, alg: AlgEdDSA, key: await importJWK({ kty, crv, x }, AlgEdDSA) };
  }
  if (kty === "RSA" && (alg === "" || alg === AlgRS256)) {
    const nb = b64decode(n);
    if (!nb || nb.length === 0 || nb[0] === 0) throw new Error("bad RSA n");
    const eb = b64decode(e);
    if (!eb || eb.length === 0 || eb.length > 4 || eb[0] === 0) throw new Error("bad RSA e");
    const ev = eb.reduce((a, b) => a * 256 + b, 0);
    if (ev < 3 || ev % 2 === 0) throw new Error("bad RSA e");
    if (kid === "") throw new Error("key without kid");
    return { kid, alg: AlgRS256, key: await importJWK({ kty, n, e }, AlgRS256) };
  }
  return undefined;
}

/** VerifyOptions say what a token must satisfy besides its signature. */
export interface VerifyOptions {
  /** issuer required in iss, exact match. */
  issuer: string;
  /** audience (this resource), compared with each aud after canonicalResource. */
  audience: string;
  /** leewaySeconds: clock skew on exp, nbf and iat; undefined = 30, 0 = none. */
  leewaySeconds?: number;
  /** algorithms allowed; undefined = ["EdDSA", "RS256"]; only those two may be listed. */
  algorithms?: readonly string[];
  /** requireActor refuses a token without act (the SDK always sets it). */
  requireActor: boolean;
}

function sameType(got: string, want: string): boolean {
  const g = got.toLowerCase();
  const w = want.toLowerCase();
  return g === w || g === "application/" + w;
}

/**
 * verifyCompact checks the header and the signature of a compact JWS and
 * returns its payload, parsed strictly. typ is the required JOSE typ.
 */
export async function verifyCompact(token: string, ks: KeySet | undefined, typ: string, algs?: readonly string[]): Promise<JSONValue> {
  if (!ks) throw new VerifyError("unknown_key", "unknown key: no key set");
  const allowed = algs ?? [AlgEdDSA, AlgRS256];
  for (const a of allowed) {
    if (a !== AlgEdDSA && a !== AlgRS256) throw new VerifyError("algorithm", `algorithm ${JSON.stringify(a)} cannot be allowed`);
  }
  if (token.length > maxTokenSize) throw new VerifyError("malformed", "malformed: token too large");
  const segs = token.split(".");
  if (segs.length !== 3) throw new VerifyError("malformed", "malformed: want three dot-separated segments");
  const hb = b64decode(segs[0]);
  if (!hb) throw new VerifyError("malformed", "malformed: header: bad base64url");
  let h: JSONObject;
  let alg: string, kid: string, htyp: string, crit: JSONValue | undefined;
  try {
    const hv = parseJSON(new TextDecoder("utf-8", { fatal: false }).decode(hb));
    if (!(hv instanceof JSONObject)) throw new Error("expected a JSON object");
    hv.strict();
    h = hv;
    alg = str(h, "alg");
    kid = str(h, "kid");
    htyp = str(h, "typ");
    crit = lastMember(h, "crit");
  } catch (e) {
    throw new VerifyError("malformed", `malformed: header: ${(e as Error).message}`);
  }
  if (!allowed.includes(alg)) throw new VerifyError("algorithm", `algorithm not allowed: ${JSON.stringify(alg.slice(0, 40))}`);
  if (!sameType(htyp, typ)) throw new VerifyError("type", `wrong type: typ ${JSON.stringify(htyp.slice(0, 40))}, want ${JSON.stringify(typ)}`);
  if (crit !== undefined) throw new VerifyError("malformed", "malformed: unsupported critical header parameters");
  if (kid === "") throw new VerifyError("unknown_key", "unknown key: kid missing");
  const key = ks.lookup(kid);
  if (!key) throw new VerifyError("unknown_key", `unknown key: kid ${JSON.stringify(kid.slice(0, 100))}`);
  if (key.alg !== alg) throw new VerifyError("algorithm", `algorithm: key ${JSON.stringify(kid)} is ${key.alg}, token says ${alg}`);
  const pb = b64decode(segs[1]);
  if (!pb || !b64decode(segs[2])) throw new VerifyError("malformed", "malformed: bad base64url");
  let payload: JSONValue;
  try {
    payload = parseJSON(new TextDecoder().decode(pb));
  } catch (e) {
    throw new VerifyError("malformed", `malformed: payload: ${(e as Error).message}`);
  }
  try {
    await compactVerify(token, key.key, { algorithms: [alg] });
  } catch (e) {
    if (e instanceof joseErrors.JWSSignatureVerificationFailed) throw new VerifyError("signature", "invalid signature");
    throw new VerifyError("malformed", `malformed: ${(e as Error).message}`);
  }
  return payload;
}

function audienceMatches(auds: string[], want: string): boolean {
  let w: string;
  try {
    w = canonicalResource(want);
  } catch {
    return false;
  }
  return auds.some((a) => {
    try {
      return canonicalResource(a) === w;
    } catch {
      return false;
    }
  });
}

const iso = (s: number) => new Date(s * 1000).toISOString().replace(".000Z", "Z");

/**
 * verifyToken verifies a delegation token as authority.Verify does, at
 * nowSeconds (seconds since the epoch, fractions allowed), and returns its
 * claims; it throws a VerifyError naming the first failed check.
 */
export async function verifyToken(token: string, ks: KeySet | undefined, opts: VerifyOptions, nowSeconds: number): Promise<Claims> {
  if (!opts.issuer) throw new VerifyError("issuer", "issuer is required");
  if (!opts.audience) throw new VerifyError("audience", "audience is required");
  const payload = await verifyCompact(token, ks, TokenType, opts.algorithms);
  const c = parseClaims(payload);
  checkClaims(c, opts, nowSeconds);
  return c;
}

function checkClaims(c: Claims, opts: VerifyOptions, now: number): void {
  const leeway = opts.leewaySeconds === undefined ? DefaultLeewaySeconds : Math.max(opts.leewaySeconds, 0);
  if (c.sub === "") throw new VerifyError("malformed", "malformed: sub missing");
  if (c.exp === undefined) throw new VerifyError("malformed", "malformed: exp missing");
  if (!(now < c.exp + leeway)) throw new VerifyError("expired", `expired at ${iso(c.exp)}`);
  if (c.nbf !== undefined && now + leeway < c.nbf) throw new VerifyError("not_yet_valid", `not valid before ${iso(c.nbf)}`);
  if (c.iat !== undefined && now + leeway < c.iat) throw new VerifyError("not_yet_valid", `issued in the future, at ${iso(c.iat)}`);
  if (c.iss !== opts.issuer) throw new VerifyError("issuer", `untrusted issuer ${JSON.stringify(c.iss.slice(0, 200))}`);
  if (!audienceMatches(c.aud, opts.audience)) throw new VerifyError("audience", `audience ${JSON.stringify(opts.audience)} not in ${JSON.stringify(c.aud)}`);
  if (!c.act && opts.requireActor) throw new VerifyError("missing_actor", "not a delegation token: no act");
  for (let a = c.act; a; a = a.act) if (a.sub === "") throw new VerifyError("malformed", "malformed: act without sub");
}
