// createVerifier against a real issuer on loopback: discovery, feed
// staleness fail-open and fail-closed, rate-limited refresh on unknown kid.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createVerifier, authenticate } from "../dist/index.js";
import { startIssuer } from "./issuer.mjs";

test("no feed: fail open by default, fail closed (503) with requireFreshFeed", async () => {
  const iss = await startIssuer(); // publishes no feed: /.well-known/revoked is 404
  const aud = "https://api.example/x";
  const open = await createVerifier(iss.url, aud, { allowHttp: true });
  const closed = await createVerifier(iss.url, aud, { allowHttp: true, requireFreshFeed: true });
  try {
    assert.ok(iss.requests.includes("/.well-known/oauth-authorization-server"), "RFC 8414 discovery");
    const token = await iss.token({ aud });
    assert.equal((await open.verify(token)).sub, "alice");
    assert.match(open.feedStatus().error.message, /not found/);
    await assert.rejects(closed.verify(token), (e) => e.kind === "feed_stale");
    const r = await authenticate(closed, "Bearer " + token, "", "");
    assert.equal(r.refusal.status, 503);
    assert.equal(r.refusal.body.error, "temporarily_unavailable");
    await iss.publish({ version: 1 });
    await closed.refreshFeed();
    assert.equal((await closed.verify(token)).sub, "alice");
  } finally {
    open.close();
    closed.close();
    await iss.close();
  }
});

test("unknown kid refreshes the key set at most once per minRefreshIntervalMs", async () => {
  const iss = await startIssuer();
  const aud = "https://api.example/x";
  let t = Date.now();
  const v = await createVerifier(iss.url, aud, { allowHttp: true, now: () => new Date(t), minRefreshIntervalMs: 60_000 });
  try {
    const token = await iss.token({ aud });
    const [h, p, s] = token.split(".");
    const header = JSON.parse(Buffer.from(h, "base64url"));
    const forged = Buffer.from(JSON.stringify({ ...header, kid: "made-up" })).toString("base64url") + "." + p + "." + s;
    const jwksFetches = () => iss.requests.filter((u) => u === "/jwks").length;
    assert.equal(jwksFetches(), 1);
    for (let i = 0; i < 5; i++) await assert.rejects(v.verify(forged), (e) => e.kind === "unknown_key");
    assert.equal(jwksFetches(), 1, "inside the interval: no refetch");
    t += 61_000;
    await assert.rejects(v.verify(forged), (e) => e.kind === "unknown_key");
    assert.equal(jwksFetches(), 2, "after the interval: one refetch");
  } finally {
    v.close();
    await iss.close();
  }
});
