// authorize: one operation of a resource server, described by its values,
// decided with the gateway's policy (Go: sdk.Authorize and Verifier.Reserve).

import type { Claims } from "./claims.js";
import { parseDecimal } from "./decimal.js";
import { JSONNumber, JSONObject, type JSONValue } from "./json.js";
import { authorizeCall, decide, deny, type Binding, type Call, type Decision, type Hold, type Ledger, type ResourceKind } from "./policy.js";

/**
 * Action is one operation, described by the values policy checks. A value
 * left empty is a dimension the operation does not have: a token's
 * max_amount does not restrict an Action without amount. Fill in every
 * dimension your operation has.
 */
export interface Action {
  /** The operation; the token's tools allow-list must hold it. */
  tool: string;
  /** The scope the operation requires; "" = none beyond a valid token. */
  scope?: string;
  /** The money moved, an exact decimal string ("499.99") — never a JavaScript number. */
  amount?: string;
  /** amount's ISO 4217 code; "" = none (refused when the token's max_amount or budget names one). */
  currency?: string;
  /** Compared with the token's categories after NFC and case folding. */
  category?: string;
  /** What the operation touches. */
  resource?: string;
  /** How resource compares: "url" (canonical URL), "path" (cleaned path, entries ending in "/" are prefixes) or "name" (exact; the default). */
  resourceKind?: ResourceKind;
  /** When the operation happens, checked against the token's window; undefined = now. */
  at?: Date;
}

const amountPtr = "/amount", currencyPtr = "/currency", categoryPtr = "/category", resourcePtr = "/resource";

function actionCall(a: Action, now: () => Date): { binding: Binding; call: Call } | Decision {
  const binding: Binding = { tool: a.tool, scope: a.scope ?? "" };
  const args: Array<[string, JSONValue]> = [];
  if (a.amount || a.currency) {
    binding.amount = { value: amountPtr };
    if (a.currency) binding.amount.currencyPointer = currencyPtr;
  }
  if (a.amount) {
    try {
      parseDecimal(a.amount);
    } catch (e) {
      const d = deny("invalid_argument", `amount: ${(e as Error).message}`);
      d.constraint = "arguments";
      return d;
    }
    args.push(["amount", new JSONNumber(a.amount)]);
  }
  if (a.currency) args.push(["currency", a.currency]);
  if (a.category) {
    binding.category = categoryPtr;
    args.push(["category", a.category]);
  }
  if (a.resource) {
    binding.resource = { value: resourcePtr, kind: a.resourceKind ?? "name" };
    args.push(["resource", a.resource]);
  }
  return { binding, call: { tool: a.tool, arguments: new JSONObject(args), at: a.at ?? now() } };
}

/**
 * authorize decides whether the claims allow a, with the gateway's decision
 * code: scope, tools, amount and currency against max_amount, category,
 * resource, time window, in that order, deny by default. Stateless: budget
 * and max_calls need a ledger (reserve).
 */
export function authorize(claims: Claims, a: Action): Decision {
  if (!a.tool) return deny("tool_not_bound", "the action names no tool");
  const bc = actionCall(a, () => new Date());
  if ("allow" in bc) return bc;
  return decide(claims, bc.binding, bc.call);
}

/** reserve is authorize plus the token's budget and max_calls held on ledger. */
export async function reserve(claims: Claims, a: Action, ledger: Ledger | undefined, now: () => Date = () => new Date()): Promise<{ decision: Decision; hold?: Hold }> {
  if (!a.tool) return { decision: deny("tool_not_bound", "the action names no tool") };
  const bc = actionCall(a, now);
  if ("allow" in bc) return { decision: bc };
  return authorizeCall(claims, bc.binding, bc.call, ledger);
}
