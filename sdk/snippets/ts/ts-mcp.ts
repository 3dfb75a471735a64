// An MCP server on the official TypeScript SDK (@modelcontextprotocol/sdk,
// Streamable HTTP) whose tools are authorized per call with the gateway's
// policy and budgets (starter for `legant snippet ts-mcp`; docs/SDK.md
// explains it).
//
//   npm install @openlegant/legant @modelcontextprotocol/sdk express zod && npm install -D typescript @types/express @types/node
//   LEGANT_ISSUER=https://legant.example RESOURCE=http://127.0.0.1:8082/mcp node server.ts   # Node ≥ 22.18, or tsc then node
import type { AddressInfo } from "node:net";
import express from "express";
import { z } from "zod";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createVerifier } from "@openlegant/legant";
import { bearerAuth, claimsFromAuthInfo, guard } from "@openlegant/legant/mcp";

const verifier = await createVerifier(process.env.LEGANT_ISSUER ?? "", process.env.RESOURCE ?? "");

// What policy checks for each tool: the scope, and which argument (a JSON
// pointer) is the amount and the category. A tool without a binding is
// refused and hidden from tools/list.
const tools = guard(verifier, {
  submit_expense: { scope: "expenses:write", amount: { value: "/amount", currency: "USD" }, category: "/category" },
});

function newServer(): McpServer {
  const server = new McpServer({ name: "expenses", version: "1.0.0" });
  server.registerTool(
    "submit_expense",
    { description: "Submit an expense (USD).", inputSchema: { amount: z.number(), category: z.string() } },
    async ({ amount, category }, extra) => {
      const c = claimsFromAuthInfo(extra.authInfo); // the verified delegation
      return { content: [{ type: "text", text: `expense of ${amount} USD (${category}) accepted for ${c?.sub}` }] };
    },
  );
  return server;
}

const app = express();
app.use(express.json());
// bearerAuth answers 401/403 with RFC 6750 challenges before the transport;
// the guard decides each tools/call (JSON-RPC error -32030… when denied).
app.post("/mcp", bearerAuth(verifier), async (req, res) => {
  // Stateless: one server and transport per request.
  const server = newServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on("close", () => {
    void transport.close();
    void server.close();
  });
  await tools.connect(server, transport);
  await transport.handleRequest(req, res, req.body);
});

const listener = app.listen(Number(process.env.PORT ?? 8082), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${(listener.address() as AddressInfo).port}/mcp`);
});
