// DPoP (RFC 9449) for resource servers, the counterpart of Go's
// authority/dpop: proof verification (typ, asymmetric alg allow-list, a
// public jwk, its signature, htm, htu normalized, iat window, ath, nonce),
// RFC 7638 thumbprints, a bounded replay cache, the check of a request whose
// token verified (modes allow/require/bearer), the error codes and texts,
// and the WWW-Authenticate DPoP challenge. createProof makes proofs (clients
// and tests).

import { createHash, createPublicKey, randomBytes, verify as cryptoVerify, constants, type KeyObject } from "node:crypto";
import { exportJWK, SignJWT } from "jose";

type SigningKey = Parameters<typeof exportJWK>[0];
import { boundKey, type Claims } from "./claims.js";
import { VerifyError } from "./errors.js";
import { JSONNumber, JSONObject, parseJSON, type JSONValue } from "./json.js";

/** The asymmetric algorithms a proof may use by default (never "none", never HMAC). */
export const DPoPAlgorithms: readonly string[] = ["EdDSA", "ES256", "ES384", "RS256", "PS256"];
/** How old a proof (its iat) may be, in seconds. */
export const DefaultProofMaxAgeSeconds = 60;
/** How far in the future a proof's iat may be, in seconds. */
export const DefaultProofSkewSeconds = 5;
/** MaxProofIDLength bounds a proof's jti (bytes): a replay cache must not hold a megabyte per entry. */
export const MaxProofIDLength = 256;
/** The default bound of a MemoryReplayCache. */
export const DefaultReplayCacheSize = 100_000;

/**
 * The reasons of a DPoPError, one per sentinel of Go's authority/dpop:
 * invalid_proof, replayed and key_mismatch are answered invalid_dpop_proof,
 * use_nonce use_dpop_nonce, the others invalid_token.
 */
export type DPoPErrorReason = "invalid_proof" | "replayed" | "key_mismatch" | "use_nonce" | "bound_as_bearer" | "not_bound" | "not_accepted";

const texts: Record<DPoPErrorReason, string> = {
  use_nonce: "a DPoP proof with the server's nonce is required",
  replayed: "the DPoP proof was used before",
  key_mismatch: "the DPoP proof is not signed by the key the token is bound to",
  invalid_proof: "the DPoP proof is invalid",
  bound_as_bearer: "the token is bound to a key (DPoP): present it with the DPoP scheme and a proof",
  not_bound: "the token is not bound to a key: this resource requires DPoP-bound tokens",
  not_accepted: "this resource does not accept DPoP-bound tokens",
};

/**
 * DPoPError is a refusal by DPoP. It is a VerifyError of kind "dpop"; code
 * is the OAuth error a client sees, description the client-safe text
 * (Go's dpop.ErrorCode and dpop.ErrorText); message is for logs.
 */
export class DPoPError extends VerifyError {
  constructor(
    readonly reason: DPoPErrorReason,
    detail = "",
  ) {
    super("dpop", detail ? `${texts[reason]}: ${detail}` : texts[reason]);
    this.name = "DPoPError";
  }
  get code(): "invalid_dpop_proof" | "use_dpop_nonce" | "invalid_token" {
    if (this.reason === "use_nonce") return "use_dpop_nonce";
    if (this.reason === "invalid_proof" || this.reason === "replayed" || this.reason === "key_mismatch") return "invalid_dpop_proof";
    return "invalid_token";
  }
  get description(): string {
    return texts[this.reason];
  }
}

const invalid = (detail: string) => new DPoPError("invalid_proof", detail);

// ---- URLs (Go's net/url, as dpop.NormalizeURL uses it) ----

const hexByte = (b: number) => "%" + b.toString(16).toUpperCase().padStart(2, "0");
const isHex = (c: string) => /^[0-9A-Fa-f]$/.test(c);

// unescape is url.unescape: %XX sequences must be valid; host mode refuses
// the characters Go's shouldEscape(encodeHost) escapes.
function unescape(s: string, host: boolean): Buffer {
  const out: number[] = [];
  const bytes = Buffer.from(s, "utf8");
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === 0x25) {
      const h = String.fromCharCode(bytes[i + 1] ?? 0) + String.fromCharCode(bytes[i + 2] ?? 0);
      if (i + 2 >= bytes.length || !isHex(h[0]) || !isHex(h[1])) throw new Error("invalid URL escape");
      // RFC 3986 §3.2.2 as Go reads it: in a host, %-encoding only for non-ASCII bytes (and %25).
      if (host && parseInt(h[0], 16) < 8 && h !== "25") throw new Error("invalid URL escape in host");
      out.push(parseInt(h, 16));
      i += 2;
      continue;
    }
    if (host && c < 0x80 && shouldEscapeHost(c)) throw new Error("invalid character in host name");
    out.push(c);
  }
  return Buffer.from(out);
}

const alnum = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);

function shouldEscapeHost(c: number): boolean {
  if (alnum(c)) return false;
  return !"!$&'()*+,;=:[]<>\"-_.~".includes(String.fromCharCode(c));
}

// shouldEscapePath is Go's shouldEscape(c, encodePath).
function shouldEscapePath(c: number): boolean {
  if (alnum(c)) return false;
  const ch = String.fromCharCode(c);
  if ("-_.~".includes(ch)) return false;
  if ("$&+,/:;=?@".includes(ch)) return ch === "?";
  return true;
}

// escapedPath is url.URL.EscapedPath of a URL parsed from the raw path p.
function escapedPath(p: string): string {
  const raw = unescape(p, false);
  let valid = true;
  for (const c of Buffer.from(p, "utf8")) {
    if ("!$&'()*+,;=:@[]%".includes(String.fromCharCode(c))) continue;
    if (c >= 0x80 || shouldEscapePath(c)) {
      valid = false;
      break;
    }
  }
  if (valid) return p;
  let out = "";
  for (const c of raw) out += shouldEscapePath(c) ? hexByte(c) : String.fromCharCode(c);
  return out;
}

/**
 * normalizeUrl returns raw as htu compares it (Go's dpop.NormalizeURL):
 * scheme and host in lower case, the default port dropped, no query, no
 * fragment, "/" for an empty path; the path as sent (no dot-segment
 * resolution). It throws for anything but an absolute http(s) URL without
 * user information.
 */
export function normalizeUrl(raw: string): string {
  const bad = () => new Error(`${JSON.stringify(raw)} is not an absolute http(s) URL`);
  if (/[\x00-\x1f\x7f]/.test(raw)) throw bad();
  let rest = raw.split("#")[0];
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(rest);
  if (!m) throw bad();
  const scheme = m[1].toLowerCase();
  rest = rest.slice(m[0].length);
  const q = rest.indexOf("?");
  if (q >= 0) rest = rest.slice(0, q);
  if ((scheme !== "http" && scheme !== "https") || !rest.startsWith("//")) throw bad();
  rest = rest.slice(2);
  const slash = rest.indexOf("/");
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? "" : rest.slice(slash);
  if (authority.includes("@")) throw bad();
  let host: string, port: string;
  try {
    if (authority.startsWith("[")) {
      const end = authority.indexOf("]");
      if (end < 0) throw bad();
      const after = authority.slice(end + 1);
      if (after !== "" && !/^:[0-9]*$/.test(after)) throw bad();
      host = unescape(authority.slice(1, end), true).toString("utf8");
      port = after.slice(1);
    } else {
      const i = authority.lastIndexOf(":");
      const hp = i < 0 ? authority : authority.slice(0, i);
      port = i < 0 ? "" : authority.slice(i + 1);
      if (!/^[0-9]*$/.test(port) || hp.includes(":")) throw bad();
      host = unescape(hp, true).toString("utf8");
    }
    host = host.toLowerCase();
    if (host === "" && port === "" && !authority.startsWith("[")) throw bad();
    if (host.includes(":")) host = "[" + host + "]";
    if (port !== "" && !(scheme === "http" && port === "80") && !(scheme === "https" && port === "443")) host += ":" + port;
    const p = escapedPath(path);
    return `${scheme}://${host}${p === "" ? "/" : p}`;
  } catch {
    throw bad();
  }
}

// ---- keys ----

const privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

function b64strict(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return undefined;
  const b = Buffer.from(s, "base64url");
  return b.toString("base64url") === s ? b : undefined;
}

function member(o: JSONObject, name: string): JSONValue | undefined {
  let v: JSONValue | undefined;
  for (const [k, x] of o.entries) if (k === name) v = x;
  return v;
}

// jwkString reads a JWK member as encoding/json reads a string field:
// case-insensitive key, the last one wins, null is "".
function jwkString(o: JSONObject, name: string): string {
  let v: JSONValue | undefined;
  for (const [k, x] of o.entries) if (k.toLowerCase() === name) v = x;
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw invalid(`jwk: ${name} is not a string`);
  return v;
}

interface PublicJWK {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
}

const curves: Record<string, { size: number; alg: string; named: string }> = {
  "P-256": { size: 32, alg: "ES256", named: "prime256v1" },
  "P-384": { size: 48, alg: "ES384", named: "secp384r1" },
};

// parseJWK returns the key of a proof's jwk header and its thumbprint, with
// the checks of Go's dpop.parseJWK.
function parseJWK(v: JSONValue | undefined): { key: KeyObject; jwk: PublicJWK; jkt: string } {
  if (!(v instanceof JSONObject)) throw invalid("jwk is not an object");
  for (const m of privateMembers) if (v.entries.some(([k]) => k === m)) throw invalid(`jwk carries private key member ${JSON.stringify(m)}`);
  const kty = jwkString(v, "kty"), crv = jwkString(v, "crv"), x = jwkString(v, "x"), y = jwkString(v, "y");
  const n = jwkString(v, "n"), e = jwkString(v, "e");
  let jwk: PublicJWK;
  switch (kty) {
    case "OKP": {
      const xb = b64strict(x);
      if (crv !== "Ed25519" || !xb || xb.length !== 32) throw invalid("jwk: OKP key must be Ed25519 with a 32-byte x");
      jwk = { kty, crv, x };
      break;
    }
    case "EC": {
      const c = curves[crv];
      if (!c) throw invalid(`jwk: curve ${JSON.stringify(crv)} not allowed`);
      const xb = b64strict(x), yb = b64strict(y);
      if (!xb || !yb || xb.length !== c.size || yb.length !== c.size) throw invalid("jwk: bad EC coordinates");
      jwk = { kty, crv, x, y };
      break;
    }
    case "RSA": {
      const nb = b64strict(n), eb = b64strict(e);
      if (!nb || !eb || nb.length < 256 || eb.length === 0 || eb.length > 4) throw invalid("jwk: RSA key must have a modulus of at least 2048 bits");
      jwk = { kty, n, e };
      break;
    }
    default:
      throw invalid(`jwk: key type ${JSON.stringify(kty)} not allowed`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as any, format: "jwk" });
  } catch {
    throw invalid(kty === "EC" ? "jwk: EC point not on the curve" : "jwk: unusable key");
  }
  return { key, jwk, jkt: jwkThumbprint(jwk) };
}

/**
 * jwkThumbprint is the RFC 7638 SHA-256 thumbprint of a public JWK (OKP, EC
 * or RSA): the value of an access token's cnf.jkt when it is bound to that key.
 */
export function jwkThumbprint(jwk: PublicJWK): string {
  let canon: string;
  switch (jwk.kty) {
    case "OKP":
      canon = JSON.stringify({ crv: jwk.crv, kty: "OKP", x: jwk.x });
      break;
    case "EC":
      canon = JSON.stringify({ crv: jwk.crv, kty: "EC", x: jwk.x, y: jwk.y });
      break;
    case "RSA":
      canon = JSON.stringify({ e: jwk.e, kty: "RSA", n: jwk.n });
      break;
    default:
      throw new Error(`dpop: key type ${JSON.stringify(jwk.kty)} not supported`);
  }
  return createHash("sha256").update(canon).digest("base64url");
}

/** accessTokenHash is a proof's ath for token: base64url(SHA-256(token)). */
export function accessTokenHash(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

// verifySignature checks a JWS signature with the key as golang-jwt's
// signing method alg does: the key must be of the algorithm's type (and
// curve); ECDSA signatures are r||s of the curve's size; PSS salts of any
// length are accepted (PSSSaltLengthAuto).
function verifySignature(alg: string, jwk: PublicJWK, key: KeyObject, data: Buffer, sig: Buffer): boolean {
  try {
    switch (alg) {
      case "EdDSA":
        return jwk.kty === "OKP" && cryptoVerify(null, data, key, sig);
      case "ES256":
      case "ES384": {
        const c = curves[jwk.crv ?? ""];
        if (jwk.kty !== "EC" || c?.alg !== alg || sig.length !== 2 * c.size) return false;
        return cryptoVerify(alg === "ES256" ? "sha256" : "sha384", data, { key, dsaEncoding: "ieee-p1363" }, sig);
      }
      case "RS256":
        return jwk.kty === "RSA" && cryptoVerify("sha256", data, { key, padding: constants.RSA_PKCS1_PADDING }, sig);
      case "PS256":
        return jwk.kty === "RSA" && cryptoVerify("sha256", data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig);
    }
  } catch {
    return false;
  }
  return false;
}

// ---- proofs ----

/** A verified DPoP proof. */
export interface Proof {
  /** jti: the caller records it in a ReplayCache. */
  id: string;
  /** iat, seconds since the epoch. */
  issuedAt: number;
  /** RFC 7638 thumbprint of the proof's key. */
  jkt: string;
  method: string;
  /** htu, normalized. */
  url: string;
}

/** ProofVerifyOptions say what a proof must show; method and url are required. */
export interface ProofVerifyOptions {
  /** The request's method. */
  method: string;
  /** The request's absolute URL as the client addressed it (behind a proxy: the public URL plus the path). */
  url: string;
  /** When set, the proof's ath must be its hash. */
  accessToken?: string;
  /** When set (the token's cnf.jkt), the proof's key must be that key. */
  jkt?: string;
  /** When set, the proof's nonce must be it (else a DPoPError "use_nonce"). */
  nonce?: string;
  /** Default DefaultProofMaxAgeSeconds. */
  maxAgeSeconds?: number;
  /** Default DefaultProofSkewSeconds. */
  skewSeconds?: number;
  /** Default DPoPAlgorithms. */
  algorithms?: readonly string[];
}

const claimString = (o: JSONObject, name: string): string => {
  const v = member(o, name);
  return typeof v === "string" ? v : "";
};

/**
 * verifyProof checks a DPoP proof JWT at nowSeconds as Go's dpop.Verify
 * does, in the same order; it throws a DPoPError.
 */
export function verifyProof(proof: string, o: ProofVerifyOptions, nowSeconds: number): Proof {
  if (!o.method || !o.url) throw invalid("the method and URL to check are required");
  let want: string;
  try {
    want = normalizeUrl(o.url);
  } catch (e) {
    throw invalid((e as Error).message);
  }
  const algs = o.algorithms ?? DPoPAlgorithms;
  const segs = proof.split(".");
  if (segs.length !== 3) throw invalid("token contains an invalid number of segments");
  if (segs.some((s) => !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1)) throw invalid("malformed: bad base64url");
  const [hb, pb, sb] = segs.map((s) => Buffer.from(s, "base64url"));
  let header: JSONValue, claims: JSONValue;
  try {
    header = parseJSON(hb.toString("utf8"));
    claims = parseJSON(pb.toString("utf8"));
  } catch (e) {
    throw invalid(`malformed: ${(e as Error).message}`);
  }
  if (!(header instanceof JSONObject) || !(claims instanceof JSONObject)) throw invalid("malformed: header and claims must be objects");
  const alg = member(header, "alg");
  if (typeof alg !== "string" || !DPoPAlgorithms.includes(alg) || !algs.includes(alg)) throw invalid("signing method is not allowed");
  const typ = member(header, "typ");
  if (typeof typ !== "string" || typ.toLowerCase() !== "dpop+jwt") throw invalid("typ is not dpop+jwt");
  const { key, jwk, jkt } = parseJWK(member(header, "jwk"));
  if (!verifySignature(alg, jwk, key, Buffer.from(segs[0] + "." + segs[1]), sb)) throw invalid("signature is invalid");

  const jti = claimString(claims, "jti"), htm = claimString(claims, "htm"), htu = claimString(claims, "htu");
  if (jti === "" || Buffer.byteLength(jti) > MaxProofIDLength) throw invalid(`jti missing or longer than ${MaxProofIDLength}`);
  if (htm !== o.method) throw invalid(`htm ${JSON.stringify(htm)} is not the request's method ${o.method}`);
  let got = "";
  try {
    got = normalizeUrl(htu);
  } catch {
    /* refused below */
  }
  if (got === "" || got !== want) throw invalid(`htu ${JSON.stringify(htu)} is not the request's URL`);
  const iatv = member(claims, "iat");
  if (!(iatv instanceof JSONNumber)) throw invalid("iat missing");
  if (!/^-?[0-9]+$/.test(iatv.raw)) throw invalid("iat is not an integer");
  const iat = BigInt(iatv.raw);
  if (iat > 9223372036854775807n || iat < -9223372036854775808n) throw invalid("iat is not an integer");
  const maxAge = o.maxAgeSeconds && o.maxAgeSeconds > 0 ? o.maxAgeSeconds : DefaultProofMaxAgeSeconds;
  const skew = o.skewSeconds && o.skewSeconds > 0 ? o.skewSeconds : DefaultProofSkewSeconds;
  const iatN = Number(iat);
  if (iatN < nowSeconds - maxAge || iatN > nowSeconds + skew) throw invalid("iat outside the accepted window");
  if (o.accessToken && claimString(claims, "ath") !== accessTokenHash(o.accessToken)) throw invalid("ath is not the hash of the access token");
  if (o.nonce && claimString(claims, "nonce") !== o.nonce) throw new DPoPError("use_nonce");
  if (o.jkt && o.jkt !== jkt) throw new DPoPError("key_mismatch");
  return { id: jti, issuedAt: iatN, jkt, method: htm, url: got };
}

/** ProofOptions are the optional claims of createProof. */
export interface ProofOptions {
  /** Sets ath. */
  accessToken?: string;
  /** Sets nonce. */
  nonce?: string;
  /** jti; default 128 random bits. */
  id?: string;
  /** iat, seconds; default now. */
  issuedAt?: number;
}

/**
 * createProof returns a DPoP proof for method and url signed by privateKey
 * (an Ed25519, P-256, P-384 or RSA key from jose's generateKeyPair, or a
 * KeyObject): EdDSA, ES256, ES384 or PS256, the public key in the header.
 */
export async function createProof(privateKey: SigningKey, method: string, url: string, o: ProofOptions = {}): Promise<string> {
  const full = await exportJWK(privateKey);
  let jwk: PublicJWK;
  let alg: string;
  if (full.kty === "OKP") [jwk, alg] = [{ kty: "OKP", crv: full.crv, x: full.x }, "EdDSA"];
  else if (full.kty === "EC") [jwk, alg] = [{ kty: "EC", crv: full.crv, x: full.x, y: full.y }, curves[full.crv ?? ""]?.alg ?? ""];
  else if (full.kty === "RSA") [jwk, alg] = [{ kty: "RSA", n: full.n, e: full.e }, "PS256"];
  else throw new Error(`dpop: unsupported key type ${full.kty}`);
  if (!alg) throw new Error(`dpop: unsupported curve ${full.crv}`);
  const claims: Record<string, unknown> = { jti: o.id ?? randomBytes(16).toString("hex"), htm: method, htu: url, iat: o.issuedAt ?? Math.floor(Date.now() / 1000) };
  if (o.accessToken) claims.ath = accessTokenHash(o.accessToken);
  if (o.nonce) claims.nonce = o.nonce;
  return new SignJWT(claims).setProtectedHeader({ alg, typ: "dpop+jwt", jwk: jwk as any }).sign(privateKey as any);
}

// ---- replay ----

/**
 * ReplayCache remembers the jti of every proof accepted until the proof
 * expires; remember resolves false for a jti seen before (a replay).
 * Replicas must share one.
 */
export interface ReplayCache {
  remember(jti: string, untilSeconds: number): boolean | Promise<boolean>;
}

/**
 * MemoryReplayCache is a ReplayCache of one process, bounded: when it holds
 * max entries it drops the expired ones, and refuses (reports not fresh)
 * while none has expired — fail closed rather than forget.
 */
export class MemoryReplayCache implements ReplayCache {
  private readonly seen = new Map<string, number>();
  constructor(
    readonly max = DefaultReplayCacheSize,
    private readonly now: () => Date = () => new Date(),
  ) {}
  remember(jti: string, untilSeconds: number): boolean {
    const now = this.now().getTime() / 1000;
    const exp = this.seen.get(jti);
    if (exp !== undefined && now < exp) return false;
    if (this.seen.size >= this.max) {
      for (const [k, e] of this.seen) if (!(now < e)) this.seen.delete(k);
      if (this.seen.size >= this.max) return false;
    }
    this.seen.set(jti, untilSeconds);
    return true;
  }
  get size(): number {
    return this.seen.size;
  }
}

// ---- the check of a request ----

/** DPoPMode: "allow" (default) accepts bearer and bound tokens, "require" only bound ones, "bearer" only bearer ones. */
export type DPoPMode = "allow" | "require" | "bearer";

/** parseDPoPMode reads a mode; undefined and "" are "allow". */
export function parseDPoPMode(s: string | undefined): DPoPMode {
  if (s === undefined || s === "" || s === "allow") return "allow";
  if (s === "require" || s === "bearer") return s;
  throw new Error(`dpop mode ${JSON.stringify(s)}: want allow, require or bearer`);
}

/** The authorization scheme a token was presented with. */
export type Scheme = "Bearer" | "DPoP";

/** accessToken extracts a token presented with the Bearer or DPoP scheme (Go's authority.AccessToken). */
export function accessToken(authorization: string | string[] | undefined): { scheme: Scheme; token: string } | undefined {
  const values = authorization === undefined ? [] : Array.isArray(authorization) ? authorization : [authorization];
  if (values.length !== 1) return undefined;
  const v = values[0];
  const sp = v.indexOf(" ");
  if (sp < 0) return undefined;
  const token = v.slice(sp + 1).trim();
  if (token === "") return undefined;
  const scheme = v.slice(0, sp).toLowerCase();
  if (scheme === "bearer") return { scheme: "Bearer", token };
  if (scheme === "dpop") return { scheme: "DPoP", token };
  return undefined;
}

/** What checkDPoP needs of one request whose token verified. */
export interface DPoPRequest {
  scheme: Scheme;
  token: string;
  claims: Claims;
  /** The values of the DPoP header. */
  proofs: string[];
  method: string;
  /** Absolute, as the client addressed it. */
  url: string;
}

/** CheckOptions configure checkDPoP. */
export interface DPoPCheckOptions {
  mode?: DPoPMode;
  /** When set, proofs must carry it (else use_dpop_nonce). */
  nonce?: string;
  /** Records accepted proofs; undefined refuses every proof it would accept (fail closed). */
  cache?: ReplayCache;
  algorithms?: readonly string[];
}

/**
 * checkDPoP applies RFC 9449 §7 as Go's dpop.Check: a bound token needs the
 * DPoP scheme and a valid proof by its key for this method, URL and token,
 * not seen before; "require" refuses a bearer token, "bearer" a bound one.
 * It returns the proof accepted, or undefined for a bearer token; it
 * throws a DPoPError.
 */
export async function checkDPoP(r: DPoPRequest, o: DPoPCheckOptions, nowSeconds: number): Promise<Proof | undefined> {
  const jkt = boundKey(r.claims);
  const mode = o.mode ?? "allow";
  if (mode === "bearer" && (jkt !== "" || r.scheme === "DPoP")) throw new DPoPError("not_accepted");
  if (jkt === "" && mode === "require") throw new DPoPError("not_bound");
  if (jkt === "" && r.scheme === "DPoP") throw new DPoPError("not_bound");
  if (jkt === "") return undefined;
  if (r.scheme !== "DPoP") throw new DPoPError("bound_as_bearer");
  if (r.proofs.length !== 1) throw invalid("exactly one DPoP header is required");
  if (!o.cache) throw invalid("no replay cache configured");
  const p = verifyProof(r.proofs[0], { method: r.method, url: r.url, accessToken: r.token, jkt, nonce: o.nonce, algorithms: o.algorithms }, nowSeconds);
  let fresh: boolean;
  try {
    fresh = await o.cache.remember(p.id, p.issuedAt + DefaultProofMaxAgeSeconds + DefaultProofSkewSeconds);
  } catch (e) {
    throw invalid(`the replay cache is unavailable: ${(e as Error).message}`);
  }
  if (!fresh) throw new DPoPError("replayed");
  return p;
}

/** dpopChallenge is the value of a WWW-Authenticate DPoP challenge: the algorithms and, for err, its code and text. */
export function dpopChallenge(err?: DPoPError, algs: readonly string[] = DPoPAlgorithms): string {
  let s = `DPoP algs="${algs.join(" ")}"`;
  if (err) s += `, error="${err.code}", error_description="${err.description}"`;
  return s;
}
