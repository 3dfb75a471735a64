// The Express middleware on a real Express server on loopback, against a
// real issuer (metadata, JWKS, signed revocation feed).
import { test } from "node:test";
import assert from "node:assert/strict";
import express from "express";
import { createVerifier, MemoryLedger } from "../dist/index.js";
import { requireToken } from "../dist/express.js";
import { startIssuer } from "./issuer.mjs";

const constraints = { actions: ["pay"], max_amount: { value: "500", currency: "USD" }, budget: { value: "600", currency: "USD" } };

test("express: allowed 200, denied 403 insufficient_scope, revoked 401", async () => {
  const iss = await startIssuer();
  await iss.publish({ version: 1 });
  const app = express();
  const srv = await new Promise((r) => { const s = app.listen(0, "127.0.0.1", () => r(s)); });
  const base = `http://127.0.0.1:${srv.address().port}`;
  const aud = base + "/api";
  const ledger = new MemoryLedger();
  const v = await createVerifier(iss.url, aud, { allowHttp: true, ledger });
  try {
    app.post("/api/pay", express.json(), requireToken(v, {
      scope: "pay",
      action: (req) => ({ tool: "pay", amount: String(req.query.amount), currency: "USD" }),
    }), (req, res) => res.json({ paid: req.query.amount, by: req.legant.claims.sub }));
    const call = (token, amount) => fetch(`${base}/api/pay?amount=${amount}`, { method: "POST", headers: token ? { authorization: "Bearer " + token } : {} });

    const token = await iss.token({ aud, scope: "pay", constraints });
    let r = await call(token, "499.99");
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { paid: "499.99", by: "alice" });
    assert.equal(ledger.spent("dlg-1").amount.toString(), "499.99");

    r = await call(token, "500.0000001");
    assert.equal(r.status, 403);
    assert.match(r.headers.get("www-authenticate"), /^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/api", error="insufficient_scope", error_description="denied: amount 500.0000001 exceeds max_amount 500"$/);
    assert.deepEqual(await r.json(), { error: "insufficient_scope", error_description: "denied: amount 500.0000001 exceeds max_amount 500",
      decision: { reason: "max_amount", limit: "500", value: "500.0000001" } });

    r = await call(token, "100.02"); // 499.99 + 100.02 > 600
    assert.equal(r.status, 403);
    assert.equal((await r.json()).decision.reason, "budget");

    const noScope = await iss.token({ aud, scope: "read", constraints });
    r = await call(noScope, "1");
    assert.equal(r.status, 403);
    assert.equal(r.headers.get("www-authenticate").includes('error="insufficient_scope"'), true);
    assert.equal(r.headers.get("www-authenticate").endsWith('scope="pay"'), true);

    r = await call("", "1");
    assert.equal(r.status, 401);
    assert.doesNotMatch(r.headers.get("www-authenticate"), /error=/);

    await iss.publish({ version: 2, users: ["alice"] });
    await v.refreshFeed();
    r = await call(token, "1");
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate"), /error="invalid_token", error_description="the token has been revoked"/);
    assert.equal((await r.json()).error, "invalid_token");

    // Rollback protection: an older feed is refused and the revocation stays.
    await iss.publish({ version: 1 });
    await assert.rejects(v.refreshFeed(), (e) => e.kind === "rollback");
    assert.equal(v.feedStatus().version, 2);
    r = await call(token, "1");
    assert.equal(r.status, 401);
  } finally {
    v.close();
    srv.close();
    await iss.close();
  }
});
