// The gateway's decision code (Go: policy.Decide and policy.Authorize):
// scope, tools, arguments, amount and currency against max_amount and
// budget, category, resource, window — in that order, deny by default —
// then budget and max_calls on a ledger.

import { normalizeCategory } from "./category.js";
import { hasScope, type Claims, type Money } from "./claims.js";
import { Decimal, parseDecimal } from "./decimal.js";
import { JSONNumber, JSONObject, jsonKind, parseJSON } from "./json.js";
import { canonicalResource, cleanPath } from "./resource.js";
import type { AllowSet } from "./set.js";
import { windowContains, windowString } from "./window.js";

/** Reason is the machine-readable cause of a decision (docs/POLICY.md lists them). */
export type Reason =
  | "allowed"
  | "tool_not_bound"
  | "insufficient_scope"
  | "tool_not_allowed"
  | "invalid_argument"
  | "max_amount"
  | "currency"
  | "category"
  | "resource"
  | "window"
  | "budget"
  | "max_calls"
  | "unavailable"
  | "unauthenticated"
  | "revoked"
  | "killed";

/** JSON-RPC error codes of a denial (policy.Code*). */
export const Codes = { unauthenticated: -32031, revoked: -32032, denied: -32030, killed: -32033, unavailable: -32034 } as const;

export function reasonCode(r: Reason): number {
  switch (r) {
    case "unauthenticated":
      return Codes.unauthenticated;
    case "revoked":
      return Codes.revoked;
    case "killed":
      return Codes.killed;
    case "unavailable":
      return Codes.unavailable;
  }
  return Codes.denied;
}

/** Decision is the outcome of decide or authorize. */
export interface Decision {
  allow: boolean;
  reason: Reason;
  /** What decided a denial: "max_amount", "categories", "scope", "tools", "arguments"…; "" when allowed. */
  constraint: string;
  /** The pointer of the argument at fault ("/amount"), if any. */
  argument: string;
  /** The limit exceeded, in wire form ("500", "USD"). */
  limit: string;
  /** The offending value, shortened to 64 characters. */
  value: string;
  /** A sentence also sent to the client: "denied: amount 700 exceeds max_amount 500". */
  message: string;
  /** The call's amount when the binding names one and it was read. */
  amount?: Money;
  /** The normalized category and resource that were checked ("" when unbound). */
  category: string;
  resource: string;
  /** The internal error behind "unavailable", for the log only. */
  cause?: unknown;
}

/** RPCError is the JSON-RPC error object a client receives for a denial. */
export interface RPCError {
  code: number;
  message: string;
  data: { reason: Reason; argument?: string; limit?: string; value?: string };
}

/** rpcError returns the JSON-RPC error for a denial, or undefined when d allows. */
export function rpcError(d: Decision): RPCError | undefined {
  if (d.allow) return undefined;
  const reason: Reason = d.reason === "allowed" || !d.reason ? "tool_not_bound" : d.reason;
  const data: RPCError["data"] = { reason };
  if (d.argument) data.argument = d.argument;
  if (d.limit) data.limit = d.limit;
  if (d.value) data.value = d.value;
  return { code: reasonCode(reason), message: d.message || "denied: " + reason, data };
}

function decision(reason: Reason, message: string): Decision {
  return { allow: false, reason, constraint: "", argument: "", limit: "", value: "", message, category: "", resource: "" };
}

/** deny builds a denial with the message "denied: " + detail. */
export function deny(reason: Reason, detail: string): Decision {
  return decision(reason, "denied: " + detail);
}

export const MaxValueLen = 64;

/** shorten bounds s to 64 code points, marking the cut with "…". */
export function shorten(s: string): string {
  const cps = [...s];
  return cps.length <= MaxValueLen ? s : cps.slice(0, MaxValueLen).join("") + "…";
}

// goQuote approximates Go's %q for messages.
function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** ResourceKind says how a resource argument is canonicalized: "url", "path" or "name" (exact; the default). */
export type ResourceKind = "url" | "path" | "name";

/** Binding is what the server knows of one tool: its scope and which arguments policy checks (policy.Binding). */
export interface Binding {
  /** The tool name; "" = any name (the binding was looked up by name). */
  tool?: string;
  /** Required scope; "" or undefined = none beyond a valid token. */
  scope?: string;
  /** The amount argument (RFC 6901 pointer to a JSON number), its currency pointer, or a fixed currency. */
  amount?: { value: string; currencyPointer?: string; currency?: string };
  /** Pointer to the category argument (a string). */
  category?: string;
  /** Pointer to the resource argument and how it compares. */
  resource?: { value: string; kind?: ResourceKind };
}

/**
 * Call is one tool call. arguments may be the raw JSON text (decoded
 * strictly, numbers kept exact) or a value already parsed (as an MCP SDK
 * hands it to tool handlers: then amounts arrive as JavaScript numbers and
 * are judged in the shortest form that reads back as the same number, which
 * is exactly what the handler sees).
 */
export interface Call {
  tool: string;
  arguments?: unknown;
  /** The instant of the call; windows are checked against it. */
  at?: Date;
}

class ArgError {
  constructor(
    readonly ptr: string,
    readonly problem: string,
    readonly value = "",
  ) {}
  text(): string {
    if (this.ptr === "") return "arguments: " + this.problem;
    if (this.problem === "") return `argument ${this.ptr} is missing`;
    return `argument ${this.ptr}: ${this.problem}`;
  }
}

function invalid(e: ArgError): Decision {
  const d = decision("invalid_argument", "denied: " + e.text());
  d.constraint = "arguments";
  d.argument = e.ptr;
  d.value = e.value;
  return d;
}

/** parsePointer parses an RFC 6901 pointer ("/amount", "/payee/iban") into its tokens. */
export function parsePointer(s: string): string[] {
  if (s === "" || s[0] !== "/") throw new Error(`invalid JSON pointer ${goQuote(s)}: must start with '/'`);
  return s
    .slice(1)
    .split("/")
    .map((p) => {
      if (p.replaceAll("~0", "").replaceAll("~1", "").includes("~")) throw new Error(`invalid JSON pointer ${goQuote(s)}: bad escape in ${goQuote(p)}`);
      return p.replaceAll("~1", "/").replaceAll("~0", "~");
    });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof JSONNumber) && !(v instanceof JSONObject);
}

function entriesOf(v: unknown): Array<[string, unknown]> | undefined {
  if (v instanceof JSONObject) return v.entries;
  if (isPlainObject(v)) return Object.entries(v);
  return undefined;
}

// equalFold is Go's strings.EqualFold (simple case folding), rune by rune.
function equalFold(a: string, b: string): boolean {
  const x = [...a];
  const y = [...b];
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    const p = x[i];
    const q = y[i];
    if (p === q) continue;
    const pl = p.toLowerCase(), ql = q.toLowerCase(), pu = p.toUpperCase(), qu = q.toUpperCase();
    if ((pl.length === p.length && pl === ql) || (pu.length === p.length && pu === qu)) continue;
    return false;
  }
  return true;
}

function pathPrefix(tokens: string[]): string {
  if (tokens.length === 0) return "/";
  return tokens.map((t) => "/" + t.replaceAll("~", "~0").replaceAll("/", "~1")).join("");
}

const found = Symbol("found");
type Lookup = { [found]: true; v: unknown } | undefined;

// lookup walks tokens through args strictly: along the path every object
// must hold the followed key exactly once and no key equal to it under case
// folding.
function lookup(args: unknown, tokens: string[], ptr: string): Lookup {
  let cur: unknown = args;
  for (let depth = 0; depth < tokens.length; depth++) {
    const tok = tokens[depth];
    const entries = entriesOf(cur);
    if (entries) {
      let count = 0;
      let next: unknown;
      for (const [k, v] of entries) {
        if (k === tok) {
          count++;
          next = v;
        } else if (equalFold(k, tok)) {
          throw new ArgError(ptr, `ambiguous key: ${goQuote(k)} differs from ${goQuote(tok)} only by case at ${pathPrefix(tokens.slice(0, depth))}`);
        }
      }
      if (count > 1) throw new ArgError(ptr, `duplicate key ${goQuote(tok)} at ${pathPrefix(tokens.slice(0, depth))}`);
      if (count === 0) return undefined;
      cur = next;
    } else if (Array.isArray(cur)) {
      if (!/^(0|[1-9][0-9]*)$/.test(tok)) return undefined;
      const n = Number(tok);
      if (n >= cur.length) return undefined;
      cur = cur[n];
    } else {
      return undefined;
    }
  }
  return { [found]: true, v: cur };
}

function rawArgument(args: unknown, ptr: string): unknown {
  const r = lookup(args, parsePointer(ptr), ptr);
  if (!r) throw new ArgError(ptr, "");
  return r.v;
}

function literalOf(v: unknown): string {
  if (v instanceof JSONNumber) return v.raw;
  if (typeof v === "string") return JSON.stringify(v);
  if (v instanceof JSONObject) return "{…}";
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

function readAmount(args: unknown, ptr: string): Decimal {
  const raw = rawArgument(args, ptr);
  const shown = shorten(literalOf(raw));
  const failWith = (problem: string): never => {
    throw new ArgError(ptr, problem, shown);
  };
  const k = jsonKind(raw);
  if (k !== "number") failWith(k + " where a number is expected");
  let lit: string;
  if (raw instanceof JSONNumber) lit = raw.raw;
  else if (typeof raw === "bigint") lit = raw.toString();
  else {
    const n = raw as number;
    if (!Number.isFinite(n)) failWith(`number ${String(n)} is not finite`);
    lit = Object.is(n, -0) ? "-0" : String(n);
  }
  if (/[eE]/.test(lit)) failWith(`number ${shorten(lit)} uses exponent notation; a plain decimal is expected`);
  if (lit[0] === "-") failWith(`negative amount ${shorten(lit)}`);
  try {
    return parseDecimal(lit);
  } catch (e) {
    return failWith(`amount ${shorten(lit)} is not an accepted decimal: ${(e as Error).message}`);
  }
}

function stringValue(ptr: string, raw: unknown): string {
  const k = jsonKind(raw);
  if (k !== "string") throw new ArgError(ptr, k + " where a string is expected", shorten(literalOf(raw)));
  return raw as string;
}

function callCurrency(args: unknown, ab: NonNullable<Binding["amount"]>): string {
  const fixed = ab.currency ?? "";
  if (!ab.currencyPointer) return fixed;
  const ptr = ab.currencyPointer;
  const r = lookup(args, parsePointer(ptr), ptr);
  if (!r) return fixed;
  const cur = stringValue(ptr, r.v);
  if (!/^[A-Z]{3}$/.test(cur)) {
    throw new ArgError(ptr, `${goQuote(shorten(cur))} is not an ISO 4217 code (three uppercase letters)`, shorten(cur));
  }
  if (fixed !== "" && cur !== fixed) throw new ArgError(ptr, `currency ${cur} differs from the tool's fixed currency ${fixed}`, cur);
  return cur;
}

function setLimit(s: AllowSet): string {
  return s.unrestricted ? "" : shorten(s.items.join(","));
}

function denyOn(d: Decision, r: Reason, constraint: string, limit: string, value: string, msg: string): false {
  d.reason = r;
  d.constraint = constraint;
  d.limit = limit;
  d.value = value;
  d.message = "denied: " + msg;
  return false;
}

function checkAmount(d: Decision, c: Claims, ab: Binding["amount"], args: unknown): boolean {
  if (!ab) return true;
  const amount = readAmount(args, ab.value);
  const cur = callCurrency(args, ab);
  d.amount = { value: amount, currency: cur };
  const cons = c.constraints;
  for (const [name, m] of [["max_amount", cons.maxAmount], ["budget", cons.budget]] as const) {
    if (!m || m.currency === "" || m.currency === cur) continue;
    if (cur === "") return denyOn(d, "currency", "currency", m.currency, "", `the call states no currency; ${name} is in ${m.currency}`);
    return denyOn(d, "currency", "currency", m.currency, cur, `currency ${cur} differs from ${name} currency ${m.currency}`);
  }
  const m = cons.maxAmount;
  if (m && amount.cmp(m.value) > 0) {
    return denyOn(d, "max_amount", "max_amount", m.value.toString(), amount.toString(), `amount ${amount} exceeds max_amount ${m.value}`);
  }
  return true;
}

function categoryAllowed(s: AllowSet, cat: string): boolean {
  if (s.contains(cat)) return true;
  return s.items.some((item) => normalizeCategory(item) === cat);
}

function checkCategory(d: Decision, c: Claims, ptr: string | undefined, args: unknown): boolean {
  if (!ptr) return true;
  const raw = stringValue(ptr, rawArgument(args, ptr));
  const cat = normalizeCategory(raw);
  if (cat === "") throw new ArgError(ptr, "empty category");
  d.category = cat;
  if (!categoryAllowed(c.constraints.categories, cat)) {
    return denyOn(d, "category", "categories", setLimit(c.constraints.categories), shorten(cat), `category ${goQuote(shorten(cat))} is not allowed`);
  }
  return true;
}

/** canonicalResourceOf canonicalizes a resource argument by kind (policy's canonicalResource). */
export function canonicalResourceOf(kind: ResourceKind | undefined, s: string): string {
  switch (kind) {
    case "url": {
      const c = canonicalResource(s);
      if (!c.includes("://")) throw new Error(`${goQuote(shorten(s))} is not an absolute URL with a host`);
      return c;
    }
    case "path":
      return canonicalPath(s);
    case "name":
    case undefined:
      if (s === "") throw new Error("empty name");
      return s;
  }
  throw new Error(`unknown resource kind ${goQuote(String(kind))}`);
}

function canonicalPath(s: string): string {
  if (s === "") throw new Error("empty path");
  if (/[\x00\\]/.test(s)) throw new Error(`path ${goQuote(shorten(s))} contains NUL or a backslash`);
  if (s[0] !== "/") throw new Error(`path ${goQuote(shorten(s))} is not absolute`);
  let depth = 0;
  for (const seg of s.slice(1).split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (--depth < 0) throw new Error(`path ${goQuote(shorten(s))} escapes the root`);
    } else depth++;
  }
  return cleanPath(s);
}

function resourceAllowed(set: AllowSet, kind: ResourceKind | undefined, r: string): boolean {
  if (set.contains(r)) return true;
  if (kind !== "path" || set.unrestricted) return false;
  return set.items.some((e) => e.endsWith("/") && (r.startsWith(e) || r === e.slice(0, -1)));
}

function checkResource(d: Decision, c: Claims, rb: Binding["resource"], args: unknown): boolean {
  if (!rb) return true;
  const raw = stringValue(rb.value, rawArgument(args, rb.value));
  let res: string;
  try {
    res = canonicalResourceOf(rb.kind, raw);
  } catch (e) {
    throw new ArgError(rb.value, (e as Error).message, shorten(raw));
  }
  d.resource = res;
  if (!resourceAllowed(c.constraints.resources, rb.kind, res)) {
    return denyOn(d, "resource", "resources", setLimit(c.constraints.resources), shorten(res), `resource ${shorten(res)} is not allowed`);
  }
  return true;
}

const rfc3339 = (t: Date) => t.toISOString().replace(/\.\d{3}Z$/, "Z");

function checkWindow(d: Decision, c: Claims, at: Date | undefined): boolean {
  const w = c.constraints.window;
  if (!w) return true;
  if (!at || Number.isNaN(at.getTime())) return denyOn(d, "window", "window", windowString(w), "", "the call has no instant to check against the window");
  let ok: boolean;
  try {
    ok = windowContains(w, at);
  } catch (e) {
    return denyOn(d, "window", "window", windowString(w), "", `window cannot be evaluated: ${(e as Error).message}`);
  }
  if (!ok) {
    const when = rfc3339(at);
    return denyOn(d, "window", "window", windowString(w), when, `${when} is outside the window ${windowString(w)}`);
  }
  return true;
}

function argumentsObject(raw: unknown): unknown {
  if (raw === undefined || raw === null) return new JSONObject([]);
  let doc: unknown = raw;
  if (typeof raw === "string") {
    if (raw.trim() === "" || raw.trim() === "null") return new JSONObject([]);
    try {
      doc = parseJSON(raw.trim());
    } catch (e) {
      throw new ArgError("", `invalid JSON: ${(e as Error).message}`);
    }
  }
  if (!entriesOf(doc)) throw new ArgError("", jsonKind(doc) + " where an object is expected");
  return doc;
}

/**
 * decide is the stateless decision for one call (policy.Decide): claims and
 * binding present, scope, tools allow-list, arguments, amount and currency,
 * category, resource, window; it stops at the first failure.
 */
export function decide(c: Claims | undefined, b: Binding | undefined, call: Call): Decision {
  if (!c) return deny("unauthenticated", "no verified token");
  if (!b || (b.tool && b.tool !== call.tool)) {
    const d = deny("tool_not_bound", `tool ${shorten(call.tool)} is not registered for this upstream`);
    d.value = shorten(call.tool);
    return d;
  }
  if (b.scope && !hasScope(c, b.scope)) {
    const d = deny("insufficient_scope", `tool ${call.tool} requires scope ${b.scope}`);
    d.constraint = "scope";
    d.limit = b.scope;
    return d;
  }
  if (!c.constraints.tools.contains(call.tool)) {
    const d = deny("tool_not_allowed", `tool ${call.tool} is not allowed by this token`);
    d.constraint = "tools";
    d.value = call.tool;
    return d;
  }
  const d = decision("allowed", "");
  try {
    const args = argumentsObject(call.arguments);
    if (!checkAmount(d, c, b.amount, args) || !checkCategory(d, c, b.category, args) || !checkResource(d, c, b.resource, args) || !checkWindow(d, c, call.at)) {
      d.allow = false;
      return d;
    }
  } catch (e) {
    if (e instanceof ArgError) return invalid(e);
    throw e;
  }
  d.allow = true;
  d.reason = "allowed";
  return d;
}

// ---- state: budgets and call counts ----

/** Reservation asks a Ledger to hold one call of a delegation. */
export interface Reservation {
  delegationId: string;
  parentDelegationId: string;
  /** The call's amount; zero when the tool moves no money. */
  amount: Decimal;
  /** The delegation's cumulative limit; undefined = none. */
  budget?: Decimal;
  /** The delegation's limit on calls; undefined = none. */
  maxCalls?: bigint;
}

/** Hold is a reservation in flight: settle it when the operation succeeded, release it otherwise; only the first call takes effect. */
export interface Hold {
  settle(): Promise<void>;
  release(): Promise<void>;
}

/**
 * Ledger holds cumulative spending and call counts per delegation (Go's
 * policy.Ledger). reserve must check and hold atomically; it throws a
 * LedgerDenied when the call would exceed the budget or max_calls, and any
 * other error when it cannot decide (the call is then denied: fail closed).
 */
export interface Ledger {
  reserve(r: Reservation): Promise<Hold>;
}

/** LedgerDenied is what a Ledger throws when a reservation would exceed the budget or the call count. */
export class LedgerDenied extends Error {
  constructor(
    readonly reason: "budget" | "max_calls",
    readonly limit: string,
    readonly value: string,
  ) {
    super(reason === "max_calls" ? `call ${value} would exceed max_calls ${limit}` : `spending would reach ${value}, over budget ${limit}`);
    this.name = "LedgerDenied";
  }
}

/** noHold is the Hold of an allowed call that reserved nothing. */
export const noHold: Hold = { settle: async () => {}, release: async () => {} };

/**
 * MemoryLedger is a Ledger for one process (Go's policy.MemoryLedger). A
 * fleet of servers must share a ledger instead (the issuer's store).
 */
export class MemoryLedger implements Ledger {
  private readonly accounts = new Map<string, { spent: Decimal; held: Decimal; calls: bigint; pending: bigint }>();

  async reserve(r: Reservation): Promise<Hold> {
    if (r.delegationId === "" || r.amount.sign() < 0) throw new Error("reservation needs a delegation id and a non-negative amount");
    const a = this.account(r.delegationId);
    if (r.maxCalls !== undefined) {
      const n = a.calls + a.pending + 1n;
      if (n > r.maxCalls) throw new LedgerDenied("max_calls", r.maxCalls.toString(), n.toString());
    }
    if (r.budget !== undefined) {
      const total = a.spent.add(a.held).add(r.amount);
      if (total.cmp(r.budget) > 0) throw new LedgerDenied("budget", r.budget.toString(), total.toString());
    }
    a.held = a.held.add(r.amount);
    a.pending++;
    let open = true;
    return {
      settle: async () => {
        if (!open) throw new Error("policy: hold already closed");
        open = false;
        a.held = a.held.sub(r.amount);
        a.spent = a.spent.add(r.amount);
        a.pending--;
        a.calls++;
      },
      release: async () => {
        if (!open) return;
        open = false;
        a.held = a.held.sub(r.amount);
        a.pending--;
      },
    };
  }

  /** spent returns a delegation's settled spending and calls. */
  spent(delegationId: string): { amount: Decimal; calls: bigint } {
    const a = this.account(delegationId);
    return { amount: a.spent, calls: a.calls };
  }

  private account(id: string) {
    let a = this.accounts.get(id);
    if (!a) {
      a = { spent: Decimal.zero, held: Decimal.zero, calls: 0n, pending: 0n };
      this.accounts.set(id, a);
    }
    return a;
  }
}

function denyState(d: Decision, r: Reason, msg: string): Decision {
  return { ...d, allow: false, reason: r, constraint: r === "unavailable" ? "" : r, message: "denied: " + msg };
}

/**
 * authorizeCall is decide, then, when the token carries a budget or
 * max_calls, a reservation on the ledger (policy.Authorize). With an allow
 * it returns a Hold to settle or release; with a denial none.
 */
export async function authorizeCall(c: Claims | undefined, b: Binding | undefined, call: Call, ledger: Ledger | undefined): Promise<{ decision: Decision; hold?: Hold }> {
  const d = decide(c, b, call);
  if (!d.allow || !c) return { decision: d };
  const cons = c.constraints;
  if (!cons.budget && cons.maxCalls === undefined) return { decision: d, hold: noHold };
  if (c.delegationId === "") return { decision: denyState(d, "budget", "the token carries a budget or max_calls but no delegation_id") };
  if (!ledger) return { decision: denyState(d, "unavailable", "no ledger to enforce the budget") };
  const r: Reservation = {
    delegationId: c.delegationId,
    parentDelegationId: c.parentDelegationId,
    amount: d.amount?.value ?? Decimal.zero,
    budget: cons.budget?.value,
    maxCalls: cons.maxCalls,
  };
  try {
    return { decision: d, hold: await ledger.reserve(r) };
  } catch (e) {
    if (e instanceof LedgerDenied) {
      const out = denyState(d, e.reason, e.message);
      out.limit = e.limit;
      out.value = e.value;
      return { decision: out };
    }
    const out = denyState(d, "unavailable", "authorization state unavailable");
    out.cause = e;
    return { decision: out };
  }
}
