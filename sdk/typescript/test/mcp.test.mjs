// The MCP guard with the official TypeScript SDK: a real McpServer behind
// the Streamable HTTP transport on loopback, a real Client.
import { test } from "node:test";
import assert from "node:assert/strict";
import express from "express";
import { z } from "zod";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { createVerifier, MemoryLedger } from "../dist/index.js";
import { bearerAuth, guard, claimsFromAuthInfo } from "../dist/mcp.js";
import { startIssuer } from "./issuer.mjs";

test("mcp guard: allowed call runs, denied call is a JSON-RPC error with data.reason, list filtered", async () => {
  const iss = await startIssuer();
  await iss.publish({ version: 1 });
  const app = express();
  app.use(express.json());
  const srv = await new Promise((r) => { const s = app.listen(0, "127.0.0.1", () => r(s)); });
  const base = `http://127.0.0.1:${srv.address().port}`;
  const aud = base + "/mcp";
  const ledger = new MemoryLedger();
  const v = await createVerifier(iss.url, aud, { allowHttp: true, ledger });
  const g = guard(v, {
    submit_expense: { scope: "expenses:write", amount: { value: "/amount", currency: "USD" }, category: "/category" },
    list_expenses: {},
  });
  const ran = [];
  app.post("/mcp", bearerAuth(v), async (req, res) => {
    // Stateless: one server and transport per request.
    const server = new McpServer({ name: "expenses", version: "1.0.0" });
    server.registerTool("submit_expense", { inputSchema: { amount: z.number(), category: z.string() } }, async ({ amount, category }, extra) => {
      ran.push({ amount, category, by: claimsFromAuthInfo(extra.authInfo)?.sub });
      return { content: [{ type: "text", text: `submitted ${amount}` }] };
    });
    server.registerTool("list_expenses", {}, async () => ({ content: [{ type: "text", text: "[]" }] }));
    server.registerTool("delete_all", {}, async () => ({ content: [{ type: "text", text: "deleted" }] }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => { transport.close(); server.close(); });
    await g.connect(server, transport);
    await transport.handleRequest(req, res, req.body);
  });

  const token = await iss.token({ aud, scope: "expenses:write", constraints: {
    actions: ["submit_expense", "list_expenses", "delete_all"], categories: ["travel"], max_amount: { value: "500", currency: "USD" },
    budget: { value: "800", currency: "USD" }, max_calls: 5 } });
  const connect = async (tok) => {
    const client = new Client({ name: "agent", version: "1.0.0" });
    const headers = tok ? { authorization: "Bearer " + tok } : {};
    await client.connect(new StreamableHTTPClientTransport(new URL(aud), { requestInit: { headers } }));
    return client;
  };
  try {
    const client = await connect(token);
    const list = await client.listTools();
    assert.deepEqual(list.tools.map((t) => t.name).sort(), ["list_expenses", "submit_expense"]);

    const ok = await client.callTool({ name: "submit_expense", arguments: { amount: 499.5, category: "Travel" } });
    assert.deepEqual(ok.content, [{ type: "text", text: "submitted 499.5" }]);
    assert.deepEqual(ran, [{ amount: 499.5, category: "Travel", by: "alice" }]);
    assert.equal(ledger.spent("dlg-1").amount.toString(), "499.5");

    const refused = async (args, name = "submit_expense") => {
      const e = await client.callTool({ name, arguments: args }).then(() => undefined, (e) => e);
      assert.ok(e instanceof McpError, `want a JSON-RPC error, got ${e}`);
      return e;
    };
    let e = await refused({ amount: 700, category: "travel" });
    assert.equal(e.code, -32030);
    assert.equal(e.message, "MCP error -32030: denied: amount 700 exceeds max_amount 500");
    assert.deepEqual(e.data, { reason: "max_amount", limit: "500", value: "700" });

    e = await refused({ amount: 10, category: "electronics" });
    assert.equal(e.data.reason, "category");
    e = await refused({ amount: 400, category: "travel" }); // 499.5 + 400 > 800
    assert.deepEqual(e.data, { reason: "budget", limit: "800", value: "899.5" });
    e = await refused({ amount: "10", category: "travel" });
    assert.deepEqual(e.data, { reason: "invalid_argument", argument: "/amount", value: '"10"' });
    e = await refused({}, "delete_all");
    assert.equal(e.data.reason, "tool_not_bound");
    assert.equal(ran.length, 1, "no refused call reached a handler");

    // Revocation through the signed feed: the HTTP layer answers 401.
    await iss.publish({ version: 2, jti: [] , delegations: ["dlg-1"] });
    await v.refreshFeed();
    const r = await fetch(aud, { method: "POST", headers: { authorization: "Bearer " + token, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }) });
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate"), /error="invalid_token", error_description="the token has been revoked"/);
    await client.close();
  } finally {
    v.close();
    srv.close();
    await iss.close();
  }
});
