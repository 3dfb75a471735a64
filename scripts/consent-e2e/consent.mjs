// Consent page end to end, in headless Chromium: an MCP client registers
// (RFC 7591), sends the user to the authorization endpoint with PKCE and
// resource; the user logs in, sets "maximum amount per call" to 200 and
// approves; the client exchanges the code, and at the gateway a call for
// 150 is allowed while a call for 300 is denied (max_amount 200).
//
// Usage: node consent.mjs <gateway base URL> <user> <password> <screenshot.png>
// Needs playwright-core (the script consent-e2e.sh installs it) and
// CHROMIUM (default /usr/bin/chromium).
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { chromium } from "playwright-core";

const [base, user, password, shot] = process.argv.slice(2);
if (!base || !user || !password || !shot) {
  console.error("usage: node consent.mjs <base URL> <user> <password> <screenshot.png>");
  process.exit(2);
}
const resource = `${base}/mcp/expenses`;
const b64url = (buf) => buf.toString("base64url");

function fail(msg) {
  console.error(`consent-e2e: FAIL: ${msg}`);
  process.exit(1);
}

// The client's redirect URI: a loopback server that receives the code.
async function callbackServer() {
  let resolve;
  const got = new Promise((r) => (resolve = r));
  const srv = createServer((req, res) => {
    const u = new URL(req.url, "http://127.0.0.1");
    res.end("You can close this window.");
    resolve(u.searchParams);
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return { uri: `http://127.0.0.1:${srv.address().port}/callback`, got, close: () => srv.close() };
}

async function json(resp) {
  const text = await resp.text();
  try {
    return JSON.parse(text);
  } catch {
    fail(`${resp.url} answered ${resp.status}: ${text}`);
  }
}

// mcp posts one JSON-RPC message and returns the answer (JSON or SSE).
async function mcp(token, session, msg) {
  const headers = {
    "Content-Type": "application/json",
    Accept: "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-06-18",
    Authorization: `Bearer ${token}`,
  };
  if (session) headers["Mcp-Session-Id"] = session;
  const resp = await fetch(resource, { method: "POST", headers, body: JSON.stringify(msg) });
  const sid = resp.headers.get("mcp-session-id") || session;
  const text = await resp.text();
  if (msg.id === undefined) return { sid };
  const data = resp.headers.get("content-type")?.startsWith("text/event-stream")
    ? text.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).pop()
    : text;
  return { sid, body: JSON.parse(data), status: resp.status };
}

async function main() {
  const cb = await callbackServer();
  const md = await json(await fetch(`${base}/.well-known/oauth-authorization-server`));
  const reg = await json(
    await fetch(md.registration_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        client_name: "Expense assistant",
        redirect_uris: [cb.uri],
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code", "refresh_token"],
      }),
    }),
  );
  if (!reg.client_id) fail(`registration: ${JSON.stringify(reg)}`);
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash("sha256").update(verifier).digest());
  const state = b64url(randomBytes(12));
  const auth = new URL(md.authorization_endpoint);
  for (const [k, v] of Object.entries({
    response_type: "code", client_id: reg.client_id, redirect_uri: cb.uri, scope: "expenses:read expenses:write",
    state, code_challenge: challenge, code_challenge_method: "S256", resource,
  })) auth.searchParams.set(k, v);

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    await page.goto(auth.toString());
    await page.fill("#username", user);
    await page.fill("#password", password);
    await Promise.all([page.waitForURL(/\/oauth2\/authorize/), page.click("#login")]);
    if (!(await page.textContent("h1")).includes("Expense assistant")) fail("the consent page does not name the client");
    await page.fill("#max_amount", "200");
    await page.fill("#currency", "USD");
    await page.screenshot({ path: shot, fullPage: true });
    await page.click("#approve");
    const params = await cb.got;
    if (params.get("state") !== state || params.get("iss") !== md.issuer) fail(`callback state/iss: ${params}`);
    if (!params.get("code")) fail(`no code: ${params}`);
    const tok = await json(
      await fetch(md.token_endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "authorization_code", code: params.get("code"), redirect_uri: cb.uri,
          code_verifier: verifier, client_id: reg.client_id, resource,
        }),
      }),
    );
    if (!tok.access_token) fail(`token: ${JSON.stringify(tok)}`);
    console.log(`consent-e2e: token for ${tok.scope}; limits ${JSON.stringify(tok.authorization_details)}`);

    const init = await mcp(tok.access_token, "", {
      jsonrpc: "2.0", id: 1, method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "consent-e2e", version: "1" } },
    });
    if (!init.sid) fail(`initialize: ${JSON.stringify(init.body)}`);
    await mcp(tok.access_token, init.sid, { jsonrpc: "2.0", method: "notifications/initialized" });
    const call = (id, amount) => mcp(tok.access_token, init.sid, {
      jsonrpc: "2.0", id, method: "tools/call",
      params: { name: "submit_expense", arguments: { amount, category: "travel" } },
    });
    const ok = await call(2, 150);
    if (ok.body.error || ok.body.result?.isError) fail(`150 should be allowed: ${JSON.stringify(ok.body)}`);
    console.log("consent-e2e: submit_expense 150 → allowed");
    const denied = await call(3, 300);
    if (!denied.body.error || !denied.body.error.message.includes("max_amount 200")) {
      fail(`300 should be denied by max_amount 200: ${JSON.stringify(denied.body)}`);
    }
    console.log(`consent-e2e: submit_expense 300 → ${denied.body.error.message}`);
    console.log("consent-e2e: PASS");
  } finally {
    await browser.close();
    cb.close();
  }
}

main().catch((e) => fail(e.stack || String(e)));
