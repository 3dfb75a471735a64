// The starters `legant snippet express|fastify|ts-mcp` prints are the files
// in sdk/snippets/ts (embedded by the Go package sdk/snippets). This test
// copies them into a directory inside this package (so "@openlegant/legant"
// resolves to the built dist/ by its exports, and express, fastify and the
// MCP SDK to this package's node_modules, as in a user's project),
// type-checks them with tsc in strict mode, then runs each compiled starter
// as its own process against a real issuer on loopback over https: 401
// without a token, 200 (or the tool's result) with one, 403 (or JSON-RPC
// -32030) over max_amount.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { startIssuer } from "./issuer.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, "..");
const snippetsDir = path.resolve(pkg, "../snippets/ts");
const certFile = path.join(here, "fixtures/loopback-cert.pem");
const tls = { cert: readFileSync(certFile), key: readFileSync(path.join(here, "fixtures/loopback-key.pem")) };
const constraints = { actions: ["submit_expense"], categories: ["travel"], max_amount: { value: "500", currency: "USD" } };

let work;
before(() => {
  work = mkdtempSync(path.join(pkg, ".snippets-"));
  cpSync(snippetsDir, path.join(work, "src"), { recursive: true });
  writeFileSync(path.join(work, "tsconfig.json"), JSON.stringify({
    compilerOptions: {
      target: "ES2023", lib: ["ES2024"], module: "NodeNext", moduleResolution: "NodeNext", strict: true,
      outDir: "out", rootDir: "src", types: ["node"], skipLibCheck: true, noUnusedLocals: true, verbatimModuleSyntax: true,
    },
    include: ["src"],
  }));
});
after(() => rmSync(work, { recursive: true, force: true }));

test("every starter in sdk/snippets/ts has a case here", () => {
  assert.deepEqual(readdirSync(snippetsDir).sort(), ["express.ts", "fastify.ts", "ts-mcp.ts"]);
});

test("the starters type-check with tsc (strict) against the built package", () => {
  try {
    execFileSync(process.execPath, [path.join(pkg, "node_modules/typescript/bin/tsc"), "-p", path.join(work, "tsconfig.json")], { encoding: "utf8" });
  } catch (e) {
    assert.fail(`tsc on sdk/snippets/ts (copied to ${work}/src):\n${e.stdout}${e.stderr}`);
  }
  assert.deepEqual(readdirSync(path.join(work, "out")).filter((f) => f.endsWith(".js")).sort(), ["express.js", "fastify.js", "ts-mcp.js"]);
});

// start runs a compiled starter and resolves with the URL it prints.
async function start(name, env) {
  const child = spawn(process.execPath, [path.join(work, "out", name + ".js")], {
    env: { ...process.env, ...env, PORT: "0", NODE_EXTRA_CA_CERTS: certFile },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${out}`)), 20_000);
    const read = (b) => {
      out += b;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+\S*)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`${name} exited (${code}):\n${out}`)); });
  });
  const stop = () => new Promise((r) => {
    child.removeAllListeners("exit");
    if (child.exitCode !== null) return r();
    child.on("exit", r);
    child.kill();
  });
  return { url, stop };
}

for (const name of ["express", "fastify"]) {
  test(`snippet ${name}: 401 without a token, 200 allowed, 403 over max_amount`, async () => {
    const iss = await startIssuer({ tls });
    await iss.publish({ version: 1 });
    const aud = "https://api.example/expenses";
    const s = await start(name, { LEGANT_ISSUER: iss.url, RESOURCE: aud });
    try {
      const base = s.url.replace(/\/$/, "");
      const post = (token, q) => fetch(`${base}/expenses?${q}`, { method: "POST", headers: token ? { authorization: "Bearer " + token } : {} });
      const token = await iss.token({ aud, agents: ["planner", "executor"], scope: "expenses:write", constraints });

      let r = await post("", "amount=120&category=Travel");
      assert.equal(r.status, 401);
      // The Bearer challenge first; a DPoP challenge may follow (RFC 9449 §7.1).
      assert.match(r.headers.get("www-authenticate"), /^Bearer resource_metadata="https:\/\/api\.example\/\.well-known\/oauth-protected-resource\/expenses", scope="expenses:write"(, DPoP algs="[^"]+")?$/);

      r = await post(token, "amount=120&category=Travel");
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { accepted: "120 USD", for: "alice" });

      r = await post(token, "amount=500.01&category=Travel");
      assert.equal(r.status, 403);
      assert.match(r.headers.get("www-authenticate"), /error="insufficient_scope", error_description="denied: amount 500.01 exceeds max_amount 500"/);
      assert.deepEqual((await r.json()).decision, { reason: "max_amount", limit: "500", value: "500.01" });

      r = await post(token, "amount=10&category=electronics");
      assert.equal(r.status, 403);
      assert.equal((await r.json()).decision.reason, "category");

      r = await fetch(`${base}/.well-known/oauth-protected-resource/expenses`);
      assert.equal(r.status, 200);
      const md = await r.json();
      assert.equal(md.resource, aud);
      assert.deepEqual(md.authorization_servers, [iss.url]);
    } finally {
      await s.stop();
      await iss.close();
    }
  });
}

test("snippet ts-mcp: a real MCP client; allowed call runs, denied one is -32030, no token is 401", async () => {
  const iss = await startIssuer({ tls });
  await iss.publish({ version: 1 });
  const aud = "https://api.example/mcp";
  const s = await start("ts-mcp", { LEGANT_ISSUER: iss.url, RESOURCE: aud });
  const connect = async (token) => {
    const client = new Client({ name: "agent", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(s.url), { requestInit: { headers: token ? { authorization: "Bearer " + token } : {} } }));
    return client;
  };
  try {
    const token = await iss.token({ aud, scope: "expenses:write", constraints });
    const client = await connect(token);
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ["submit_expense"]);
    const ok = await client.callTool({ name: "submit_expense", arguments: { amount: 120, category: "Travel" } });
    assert.deepEqual(ok.content, [{ type: "text", text: "expense of 120 USD (Travel) accepted for alice" }]);
    const e = await client.callTool({ name: "submit_expense", arguments: { amount: 700, category: "travel" } }).then(() => undefined, (e) => e);
    assert.ok(e instanceof McpError, `want a JSON-RPC error, got ${e}`);
    assert.equal(e.code, -32030);
    assert.deepEqual(e.data, { reason: "max_amount", limit: "500", value: "700" });
    await client.close();

    const r = await fetch(s.url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }) });
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate"), /^Bearer resource_metadata="https:\/\/api\.example\/\.well-known\/oauth-protected-resource\/mcp"/);
  } finally {
    await s.stop();
    await iss.close();
  }
});
