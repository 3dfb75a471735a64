// Passkeys end to end, in headless Chromium with a virtual authenticator
// (Chrome DevTools Protocol WebAuthn.addVirtualAuthenticator: CTAP2,
// internal transport, resident keys, user verification): alice logs in with
// her password, registers a passkey on /account/security (the page's
// webauthn.js calls navigator.credentials.create), logs out, and signs in
// again with the passkey alone (navigator.credentials.get).
//
// Usage: node passkey.mjs <issuer base URL (a domain: http://localhost:PORT)> <user> <password>
import { chromium } from "playwright-core";

const [base, user, password] = process.argv.slice(2);
if (!base || !user || !password) {
  console.error("usage: node passkey.mjs <base URL> <user> <password>");
  process.exit(2);
}
function fail(msg) {
  console.error(`passkey-e2e: FAIL: ${msg}`);
  process.exit(1);
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });

  await page.goto(`${base}/login?return_to=/account/security`);
  await page.fill("#username", user);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(/\/account\/security/), page.click("#login")]);
  await Promise.all([page.waitForLoadState("load"), page.click("#passkey-add")]);
  await page.waitForSelector("text=You have 1 passkey", { timeout: 10000 }).catch(async () =>
    fail(`registration: ${await page.textContent("#passkey-status")}`));
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  if (credentials.length !== 1 || !credentials[0].isResidentCredential) fail(`authenticator holds ${JSON.stringify(credentials)}`);

  await Promise.all([page.waitForURL(/\/login/), page.click("button:has-text('Log out')")]);
  await page.goto(`${base}/login?return_to=/account/delegations`);
  await Promise.all([page.waitForURL(/\/account\/delegations/, { timeout: 10000 }), page.click("#passkey-login")]).catch(async () =>
    fail(`passkey sign-in: ${await page.textContent("#passkey-status")}`));
  const who = await page.textContent(".who");
  if (!who.includes(user)) fail(`signed in as ${who}`);
  const after = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  if (after.credentials[0].signCount < 1) fail("the authenticator's counter did not move");
  console.log(`passkey-e2e: ok — registered and signed in as ${user} with a passkey (sign count ${after.credentials[0].signCount})`);
} finally {
  await browser.close();
}
