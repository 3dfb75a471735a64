// The console end to end, in headless Chromium (docs/CONSOLE.md): log in
// with the admin token, watch a running agent loop's decisions arrive in the
// Decisions view, open the Sessions view and click Kill on the agent's
// session (giving a reason); the agent's in-flight call must end with the
// killed error, and the kill must appear in the decision stream.
//
// Usage: node console.mjs <admin URL> <admin token file> <shots dir> <agent command…>
// The agent command (scripts/console-e2e/agent loop …) prints one JSON line
// per call. Needs playwright-core and CHROMIUM (default /usr/bin/chromium).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [admin, tokenFile, shots, ...agentCmd] = process.argv.slice(2);
if (!admin || !tokenFile || !shots || agentCmd.length === 0) {
  console.error("usage: node console.mjs <admin URL> <admin token file> <shots dir> <agent command…>");
  process.exit(2);
}
function fail(msg) {
  console.error(`console-e2e: FAIL: ${msg}`);
  process.exit(1);
}
const log = (msg) => console.error(`console-e2e: ${msg}`);

// The agent loop, its call results as a queue.
function startAgent() {
  const child = spawn(agentCmd[0], agentCmd.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  const results = [];
  let wake = null;
  createInterface({ input: child.stdout }).on("line", (l) => {
    results.push(JSON.parse(l));
    if (wake) wake();
  });
  child.on("exit", () => wake && wake());
  async function next(timeoutMs) {
    const end = Date.now() + timeoutMs;
    while (results.length === 0) {
      if (Date.now() > end) fail("timed out waiting for the agent");
      await new Promise((r) => { wake = r; setTimeout(r, 200); });
    }
    return results.shift();
  }
  return { child, next };
}

async function main() {
  const token = readFileSync(tokenFile, "utf8").trim();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const agent = startAgent();
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 820 } });
    const cspViolations = [];
    page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });

    // Log in.
    await page.goto(`${admin}/console/login`);
    await page.getByLabel("Admin token").fill(token);
    await page.getByLabel(/Your name/).fill("alice@secops");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(`${admin}/console/decisions`);
    log("logged in");

    // The agent's decisions appear, live.
    const first = await agent.next(20000);
    if (!first.ok) fail(`the agent's first call failed: ${JSON.stringify(first)}`);
    const session = first.session;
    const allowRows = page.locator(`#decisions tbody tr[data-kind="allow"][data-session="${session}"]`);
    await allowRows.nth(2).waitFor({ timeout: 20000 });
    log(`decisions stream: ${await allowRows.count()} allow rows for session ${session}`);
    await page.screenshot({ path: `${shots}/console-decisions.png` });

    // Let the loop reach its long call, then kill from the Sessions view.
    for (let i = 1; i < 6; i++) {
      const r = await agent.next(20000);
      if (!r.ok) fail(`short call ${i} failed: ${JSON.stringify(r)}`);
    }
    await page.getByRole("link", { name: "Sessions" }).click();
    const row = page.locator(`#sessions tr[data-session="${session}"]`);
    await row.waitFor({ timeout: 10000 });
    await row.getByText("Kill", { exact: true }).click();
    await row.getByLabel("Reason").fill("agent exfiltrating files");
    await page.screenshot({ path: `${shots}/console-sessions.png` });
    await new Promise((r) => setTimeout(r, 500)); // the long call is running
    const clicked = Date.now();
    await row.getByRole("button", { name: "Kill session" }).click();
    const killed = await agent.next(20000);
    const latency = killed.at_ms - clicked;
    if (killed.ok || killed.reason !== "killed") fail(`the in-flight call did not end killed: ${JSON.stringify(killed)}`);
    log(`the agent's in-flight call ended: ${killed.code} ${killed.message} (reason ${killed.reason})`);
    log(`kill latency, Kill click to the agent's error: ${latency} ms`);
    await page.locator(".notice").filter({ hasText: `Killed session=${session}` }).waitFor({ timeout: 10000 });

    // The kill appears in the decision stream.
    await page.getByRole("link", { name: "Decisions" }).click();
    await page.locator(`#decisions tbody tr[data-kind="kill"][data-session="${session}"]`).first().waitFor({ timeout: 20000 });
    log("the kill is in the decision stream");
    await page.screenshot({ path: `${shots}/console-kill.png` });

    // The audit record of the kill, then the chain verified.
    await page.locator(`#decisions tbody tr[data-kind="kill"][data-session="${session}"] a`).first().click();
    await page.getByText(/Position \d+ of \d+/).waitFor();
    await page.goto(`${admin}/console/audit`);
    await page.getByRole("button", { name: "Verify now" }).click();
    await page.getByText(/Intact: \d+ event/).waitFor({ timeout: 20000 });
    await page.screenshot({ path: `${shots}/console-audit.png`, fullPage: true });
    if (cspViolations.length) fail(`CSP violations: ${cspViolations.join("; ")}`);
    console.log(JSON.stringify({ kill_latency_ms: latency }));
  } finally {
    agent.child.kill();
    await browser.close();
  }
}

main().catch((e) => fail(e.stack || String(e)));
