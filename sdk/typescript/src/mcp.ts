// A guard for servers built with the official TypeScript MCP SDK
// (@modelcontextprotocol/sdk), the counterpart of the Go sdk/mcpguard.
//
// Two pieces, used together:
//   - bearerAuth: Node/Express HTTP middleware in front of the Streamable
//     HTTP transport: the RFC 6750 challenges of the Express middleware, and
//     req.auth (the SDK's AuthInfo) carrying the claims, which the transport
//     hands to the server as extra.authInfo;
//   - Guard.connect(server, transport): every tools/call is decided with the gateway's
//     policy (the tool's Binding, the arguments as the handler receives
//     them) before the server sees it; a denial is answered with the
//     gateway's JSON-RPC error (code -32030…, data.reason). Budgets are
//     settled when the tool succeeds. tools/list shows only the tools the
//     token may call.
//
// No runtime import of the MCP SDK: the guard works on the transport's
// message interface, so it is not tied to one SDK version.

import type { Claims } from "./claims.js";
import { hasScope } from "./claims.js";
import { errorDescription } from "./errors.js";
import { authenticate, bearerToken, requestInfo, type Refusal } from "./http.js";
import { deny, rpcError, type Binding, type Decision, type Hold } from "./policy.js";
import type { Verifier } from "./verifier.js";

/** The AuthInfo.extra key holding the verified claims. */
export const claimsExtra = "legantClaims";

/** The part of the MCP SDK's AuthInfo the guard reads and writes. */
export interface AuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  extra?: Record<string, unknown>;
}

interface NodeRequest {
  method?: string;
  url?: string;
  originalUrl?: string;
  socket?: unknown;
  headers: Record<string, string | string[] | undefined>;
  headersDistinct?: Record<string, string[] | undefined>;
  auth?: AuthInfo;
}
interface NodeResponse {
  statusCode: number;
  setHeader(name: string, value: string | string[]): unknown;
  end(body?: string): unknown;
}

/** claimsFromAuthInfo returns the claims bearerAuth stored, if any. */
export function claimsFromAuthInfo(a: AuthInfo | undefined): Claims | undefined {
  return a?.extra?.[claimsExtra] as Claims | undefined;
}

/**
 * bearerAuth returns HTTP middleware (Express or plain Node: (req, res,
 * next)) for the MCP endpoint: it verifies the bearer token (401/403/503 as
 * the Express middleware) and sets req.auth for the transport.
 */
export function bearerAuth(v: Verifier, opts: { resourceMetadata?: string; scope?: string } = {}) {
  const metadata = opts.resourceMetadata ?? v.resourceMetadataUrl();
  return (req: NodeRequest, res: NodeResponse, next: (err?: unknown) => void): void => {
    authenticate(v, requestInfo(req), metadata, opts.scope ?? "").then((r) => {
      if ("refusal" in r) return send(res, r.refusal);
      const c = r.claims;
      const token = String(req.headers.authorization).replace(/^\S+\s+/, "").trim();
      req.auth = { token, clientId: c.clientId, scopes: [...c.scopes], expiresAt: c.exp, extra: { [claimsExtra]: c } };
      next();
    }, next);
  };
}

function send(res: NodeResponse, r: Refusal): void {
  res.statusCode = r.status;
  for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
  res.end(JSON.stringify(r.body) + "\n");
}

type Message = { jsonrpc: "2.0"; id?: string | number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: unknown };
type MessageExtra = { authInfo?: AuthInfo; requestInfo?: { headers?: Record<string, string | string[] | undefined> } } | undefined;

/** The part of an MCP SDK Transport the guard wraps. */
export interface GuardedTransport {
  onmessage?: (message: any, extra?: any) => void;
  send(message: any, options?: any): Promise<void>;
}

/**
 * Guard authorizes the tool calls of MCP transports. Create one per server
 * with the tools' bindings (a tool without one is refused and hidden, as in
 * the gateway's registry), then connect each server and transport through
 * it: await g.connect(server, transport).
 */
export class Guard {
  private readonly tools: ReadonlyMap<string, Binding>;

  constructor(
    private readonly v: Verifier,
    tools: Record<string, Binding>,
  ) {
    this.tools = new Map(Object.entries(tools).map(([name, b]) => [name, { ...b, tool: name }]));
  }

  /**
   * connect connects server to transport (server.connect) and protects the
   * transport: the way to use the guard.
   */
  async connect<T extends GuardedTransport>(server: { connect(t: T): Promise<void> }, transport: T): Promise<T> {
    await server.connect(transport);
    return this.protect(transport);
  }

  /**
   * protect wraps the message handler and send of a transport already
   * connected to its server (it throws otherwise: an unguarded transport
   * must not go unnoticed).
   */
  protect<T extends GuardedTransport>(transport: T): T {
    const pending = new Map<string | number, { kind: "call"; hold: Hold } | { kind: "list"; claims?: Claims }>();
    const inner = transport.onmessage;
    if (!inner) throw new Error("legant: protect(transport) needs a transport already connected to its server (await server.connect(transport) first)");
    transport.onmessage = (msg: Message, extra?: MessageExtra) => {
      void this.receive(msg, extra, transport, pending).then(
        (pass) => {
          if (pass) inner.call(transport, msg, extra);
        },
        () => {},
      );
    };
    const send = transport.send.bind(transport);
    transport.send = async (msg: Message, options?: unknown) => {
      const p = msg.id !== undefined && msg.method === undefined ? pending.get(msg.id) : undefined;
      if (p) {
        pending.delete(msg.id!);
        if (p.kind === "call") {
          const ok = msg.error === undefined && !(msg.result as { isError?: boolean } | undefined)?.isError;
          await (ok ? p.hold.settle() : p.hold.release()).catch(() => {});
        } else if (msg.result && Array.isArray((msg.result as { tools?: unknown }).tools)) {
          const r = msg.result as { tools: Array<{ name: string }> };
          msg = { ...msg, result: { ...r, tools: r.tools.filter((t) => this.visible(p.claims, t.name)) } };
        }
      }
      return send(msg, options);
    };
    return transport;
  }

  private visible(c: Claims | undefined, name: string): boolean {
    const b = this.tools.get(name);
    return !!c && !!b && (!b.scope || hasScope(c, b.scope)) && c.constraints.tools.contains(name);
  }

  private async claims(extra: MessageExtra): Promise<Claims | undefined> {
    const c = claimsFromAuthInfo(extra?.authInfo);
    if (c) return c;
    const h = extra?.requestInfo?.headers?.authorization;
    if (!h) return undefined;
    // No request to check a DPoP proof against: verify, which refuses a bound token.
    const token = bearerToken(h);
    if (!token) return undefined;
    try {
      return await this.v.verify(token);
    } catch {
      return undefined;
    }
  }

  // receive decides one incoming message; it returns whether to pass it on.
  private async receive(msg: Message, extra: MessageExtra, t: GuardedTransport, pending: Map<string | number, any>): Promise<boolean> {
    if (msg.id === undefined || (msg.method !== "tools/call" && msg.method !== "tools/list")) return true;
    const c = await this.claims(extra);
    if (msg.method === "tools/list") {
      pending.set(msg.id, { kind: "list", claims: c });
      return true;
    }
    const name = typeof msg.params?.name === "string" ? msg.params.name : "";
    let d: Decision;
    let hold: Hold | undefined;
    if (!c) d = deny("unauthenticated", "no verified token");
    else ({ decision: d, hold } = await this.v.authorizeCall(c, this.tools.get(name), { tool: name, arguments: msg.params?.arguments }));
    if (!d.allow || !hold) {
      const e = rpcError(d) ?? rpcError(deny("tool_not_bound", "no decision"))!;
      await t.send({ jsonrpc: "2.0", id: msg.id, error: e }, { relatedRequestId: msg.id });
      return false;
    }
    pending.set(msg.id, { kind: "call", hold });
    return true;
  }
}

/** guard returns a Guard for a server exposing tools (name → binding). */
export function guard(v: Verifier, tools: Record<string, Binding>): Guard {
  return new Guard(v, tools);
}

export { errorDescription };
