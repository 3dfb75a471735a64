// The delegation token's claims (authority.Claims), decoded as strictly as
// the Go package decodes them.

import { normalizeCategory } from "./category.js";
import { Decimal, parseDecimal } from "./decimal.js";
import { VerifyError } from "./errors.js";
import { JSONNumber, JSONObject, type JSONValue } from "./json.js";
import { canonicalResource } from "./resource.js";
import { AllowSet } from "./set.js";
import { dayNames, normalizeSegments, parseClock, validateWindow, type Segment, type Window } from "./window.js";

/** DetailType is the RFC 9396 authorization_details type carrying the constraints. */
export const DetailType = "legant_delegation";

/** Money is an exact amount with an optional ISO 4217 currency ("" = any). */
export interface Money {
  value: Decimal;
  currency: string;
}

/** Constraints are the limits signed into a token; an unrestricted set or an undefined field does not restrict. */
export interface Constraints {
  tools: AllowSet;
  resources: AllowSet;
  categories: AllowSet;
  maxAmount?: Money;
  budget?: Money;
  maxCalls?: bigint;
  window?: Window;
}

/** Actor is one link of the RFC 8693 act chain; the outermost is the most recent actor. */
export interface Actor {
  sub: string;
  client_id?: string;
  /** The key this hop held when it was delegated to (its token's cnf); undefined for a bearer hop. */
  cnf?: Confirmation;
  act?: Actor;
}

/**
 * Confirmation is an RFC 7800 cnf claim in the one form Legant honours: the
 * RFC 7638 thumbprint of a DPoP key (RFC 9449 §6). Any other member, or a
 * cnf without jkt, makes the token malformed: a token bound in a way the SDK
 * cannot check is never honoured as a bearer token.
 */
export interface Confirmation {
  jkt: string;
}

/**
 * Claims of a verified delegation token. Times are seconds since the epoch
 * (undefined = absent). Treat as read-only: the verifier caches them.
 */
export interface Claims {
  iss: string;
  sub: string;
  aud: string[];
  exp?: number;
  iat?: number;
  nbf?: number;
  jti: string;
  clientId: string;
  scopes: string[];
  act?: Actor;
  delegationId: string;
  parentDelegationId: string;
  constraints: Constraints;
  /** The RFC 7800 cnf claim: with it the token is DPoP-bound (RFC 9449); undefined = a bearer token. */
  cnf?: Confirmation;
}

/** boundKey returns the thumbprint of the key the token is bound to (cnf.jkt), or "" for a bearer token. */
export function boundKey(c: Claims): string {
  return c.cnf?.jkt ?? "";
}

/** chain lists the agents of the act claim, oldest first. */
export function chain(c: Claims): string[] {
  const out: string[] = [];
  for (let a = c.act; a; a = a.act) out.push(a.sub);
  return out.reverse();
}

/** provenance returns "user:alice → agent:planner → agent:executor". */
export function provenance(c: Claims): string {
  const ch = chain(c);
  return "user:" + c.sub + (ch.length ? " → " + ch.map((s) => "agent:" + s).join(" → ") : "");
}

/** principal returns "alice|planner|executor" ("%" and "|" in subjects percent-escaped). */
export function principal(c: Claims): string {
  const esc = (s: string) => s.replaceAll("%", "%25").replaceAll("|", "%7C");
  return [c.sub, ...chain(c)].map(esc).join("|");
}

export function hasScope(c: Claims, s: string): boolean {
  return c.scopes.includes(s);
}

// ---- decoding ----

function fail(msg: string): never {
  throw new Error(msg);
}

/** object reads a JSON object, refusing duplicate keys (authority's decodeObject). */
function object(v: JSONValue, what: string): Map<string, JSONValue> {
  if (!(v instanceof JSONObject)) fail(`${what}: expected a JSON object`);
  try {
    return v.strict();
  } catch {
    fail(`${what}: duplicate key`);
  }
}

// goString is json.Unmarshal into a string: null leaves "".
function goString(v: JSONValue, what: string): string {
  if (v === null) return "";
  if (typeof v !== "string") fail(`${what}: not a string`);
  return v;
}

function goStrings(v: JSONValue, what: string): string[] {
  if (v === null) fail(`${what}: expected an array of strings, got null`);
  if (!Array.isArray(v)) fail(`${what}: not an array of strings`);
  return v.map((x) => goString(x, what));
}

const maxNumericDate = 253402300799;

function numericDate(v: JSONValue, what: string): number {
  if (v === null) return 0;
  if (!(v instanceof JSONNumber)) fail(`${what}: not a NumericDate`);
  const f = Number(v.raw);
  if (!Number.isFinite(f) || f < 0 || f > maxNumericDate) fail(`${what}: NumericDate out of range`);
  return Math.trunc(f);
}

/** confirmation reads a cnf claim as authority.decodeConfirmation: an object with exactly one member, jkt, a non-empty string. */
function confirmation(v: JSONValue): Confirmation {
  const m = object(v, "cnf");
  let jkt = "";
  for (const [k, x] of m) {
    if (k !== "jkt") fail(`confirmation method ${JSON.stringify(k)} is not supported (only jkt)`);
    if (x !== null && typeof x !== "string") fail("jkt is not a non-empty string");
    jkt = x ?? "";
    if (jkt === "") fail("jkt is not a non-empty string");
  }
  if (jkt === "") fail("cnf has no jkt");
  return { jkt };
}

function actor(v: JSONValue): Actor | undefined {
  if (v === null) return undefined;
  const m = object(v, "act");
  const a: Actor = { sub: "" };
  if (m.has("sub")) a.sub = goString(m.get("sub")!, "act.sub");
  if (m.has("client_id")) a.client_id = goString(m.get("client_id")!, "act.client_id");
  if (m.has("cnf")) {
    try {
      a.cnf = confirmation(m.get("cnf")!);
    } catch (e) {
      fail(`act.cnf: ${(e as Error).message}`);
    }
  }
  if (m.has("act")) a.act = actor(m.get("act")!);
  return a;
}

/** parseClaims decodes a verified payload; it throws VerifyError "malformed" or "constraints". */
export function parseClaims(payload: JSONValue): Claims {
  let m: Map<string, JSONValue>;
  try {
    m = object(payload, "claims");
  } catch (e) {
    throw new VerifyError("malformed", `malformed: claims: ${(e as Error).message}`);
  }
  const c: Claims = {
    iss: "", sub: "", aud: [], jti: "", clientId: "", scopes: [], delegationId: "", parentDelegationId: "",
    constraints: { tools: AllowSet.only(), resources: AllowSet.only(), categories: AllowSet.only() },
  };
  for (const [key, raw] of m) {
    try {
      switch (key) {
        case "iss": c.iss = goString(raw, key); break;
        case "sub": c.sub = goString(raw, key); break;
        case "aud":
          if (typeof raw === "string" || raw === null) c.aud = [goString(raw, key)];
          else c.aud = goStrings(raw, key);
          break;
        case "exp": c.exp = numericDate(raw, key); break;
        case "iat": c.iat = numericDate(raw, key); break;
        case "nbf": c.nbf = numericDate(raw, key); break;
        case "jti": c.jti = goString(raw, key); break;
        case "client_id": c.clientId = goString(raw, key); break;
        case "scope": c.scopes = goString(raw, key).split(/[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/).filter(Boolean); break;
        case "act": c.act = actor(raw); break;
        case "delegation_id": c.delegationId = goString(raw, key); break;
        case "parent_delegation_id": c.parentDelegationId = goString(raw, key); break;
        case "authorization_details": c.constraints = details(raw); break;
        case "cnf": c.cnf = confirmation(raw); break;
      }
    } catch (e) {
      if (e instanceof VerifyError) throw e;
      throw new VerifyError("malformed", `malformed: claims: claim ${key}: ${(e as Error).message}`);
    }
  }
  return c;
}

function constraintsError(msg: string): VerifyError {
  return new VerifyError("constraints", `invalid constraints: ${msg}`);
}

function details(raw: JSONValue): Constraints {
  if (!Array.isArray(raw)) throw constraintsError("authorization_details is not an array");
  if (raw.length !== 1) {
    throw constraintsError(`want exactly one authorization_details entry of type ${DetailType}, got ${raw.length} entries`);
  }
  return parseConstraints(raw[0]);
}

/** parseConstraints decodes and normalizes a legant_delegation entry; it throws VerifyError "constraints". */
export function parseConstraints(raw: JSONValue): Constraints {
  let m: Map<string, JSONValue>;
  try {
    m = object(raw, "entry");
  } catch (e) {
    throw constraintsError((e as Error).message);
  }
  const c: Constraints = { tools: AllowSet.any(), resources: AllowSet.any(), categories: AllowSet.any() };
  for (const [key, v] of m) {
    try {
      if (v === null) fail("null is not allowed");
      switch (key) {
        case "type":
          if (v !== DetailType) fail(`want "${DetailType}"`);
          break;
        case "actions": c.tools = AllowSet.only(...goStrings(v, key)); break;
        case "locations": c.resources = AllowSet.only(...goStrings(v, key).map(canonicalResource)); break;
        case "categories": c.categories = AllowSet.only(...goStrings(v, key).map(normalizeCategory)); break;
        case "max_amount": c.maxAmount = money(v, key); break;
        case "budget": c.budget = money(v, key); break;
        case "max_calls": c.maxCalls = int64(v); break;
        case "window": c.window = windowOf(v); break;
        default: fail("unknown key");
      }
    } catch (e) {
      throw constraintsError(`${key}: ${(e as Error).message}`);
    }
  }
  if (!m.has("type")) throw constraintsError("type missing");
  return c;
}

function decimalOf(v: JSONValue): Decimal {
  if (typeof v === "string") return parseDecimal(v);
  if (v instanceof JSONNumber) return parseDecimal(v.raw);
  fail("not a decimal");
}

function money(v: JSONValue, name: string): Money {
  const m = object(v, "money");
  let value: Decimal | undefined;
  let currency = "";
  for (const [k, x] of m) {
    if (k === "value") value = x === null ? undefined : decimalOf(x);
    else if (k === "currency") currency = goString(x, "currency");
    else fail(`money: unknown key ${JSON.stringify(k)}`);
  }
  if (!value) fail("money: value missing");
  const cur = currency.toUpperCase();
  if (value.sign() < 0) fail(`${name} ${value} is negative`);
  if (cur !== "" && !/^[A-Z]{3}$/.test(cur)) fail(`${name} currency ${JSON.stringify(currency)} is not an ISO 4217 code`);
  return { value, currency: cur };
}

function int64(v: JSONValue): bigint {
  if (!(v instanceof JSONNumber) || !/^-?(0|[1-9][0-9]*)$/.test(v.raw)) fail("not an integer");
  const n = BigInt(v.raw);
  if (n > 9223372036854775807n || n < -9223372036854775808n) fail("out of range");
  if (n < 0n) fail(`max_calls ${n} is negative`);
  return n;
}

function windowOf(v: JSONValue): Window {
  const m = object(v, "window");
  let zone = "";
  let segs: JSONValue = null;
  for (const [k, x] of m) {
    if (k === "tz") zone = goString(x, "tz");
    else if (k === "segments") segs = x;
    else fail(`window: unknown key ${JSON.stringify(k)}`);
  }
  if (segs === null) fail("window: segments missing");
  if (!Array.isArray(segs)) fail("window: segments: not an array");
  const out: Segment[] = segs.map(segment);
  const w: Window = { zone, segments: normalizeSegments(out) };
  validateWindow(w);
  return w;
}

function segment(v: JSONValue): Segment {
  const m = object(v, "segment");
  let day = "", start = "", end = "";
  for (const [k, x] of m) {
    if (k === "day") day = goString(x, "day");
    else if (k === "start") start = goString(x, "start");
    else if (k === "end") end = goString(x, "end");
    else fail(`unknown key ${JSON.stringify(k)}`);
  }
  const d = dayNames.findIndex((n) => n === day.toLowerCase() && day.length === 3);
  if (d < 0) fail(`window: unknown day ${JSON.stringify(day)} (want sun..sat)`);
  const s = parseClock(start, false);
  const e = parseClock(end, true);
  if (s >= e) fail(`window: segment ${day} ${start}-${end} is empty or crosses midnight`);
  return { day: d, start: s, end: e };
}

/** constraintsJSON is the authorization_details entry of c, as authority marshals it. */
export function constraintsJSON(c: Constraints): Record<string, unknown> {
  const out: Record<string, unknown> = { type: DetailType };
  if (!c.tools.unrestricted) out.actions = [...c.tools.items];
  if (!c.resources.unrestricted) out.locations = [...c.resources.items];
  if (!c.categories.unrestricted) out.categories = [...c.categories.items];
  const money = (m: Money) => (m.currency ? { value: m.value.toString(), currency: m.currency } : { value: m.value.toString() });
  if (c.maxAmount) out.max_amount = money(c.maxAmount);
  if (c.budget) out.budget = money(c.budget);
  if (c.maxCalls !== undefined) out.max_calls = Number(c.maxCalls);
  if (c.window) {
    out.window = {
      tz: c.window.zone,
      segments: c.window.segments.map((s) => ({ day: dayNames[s.day], start: fmt(s.start), end: fmt(s.end) })),
    };
  }
  return out;
}

function fmt(m: number): string {
  return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}
