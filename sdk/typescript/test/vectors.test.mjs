// Every case of authority/testdata/vectors.json (format in its README.md),
// through the package's public API, as sdk/vectors_test.go runs them in Go:
// each case's JWKS is served over HTTP on loopback, createVerifier fetches
// it, verify checks the token at the case's instant (the SDK always
// requires an actor), and authorize decides the case's action. The
// authority-level verifyToken is also run with the case's own options.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import {
  createVerifier, authorize, verifyToken, KeySet, VerifyError,
  chain, provenance, principal, constraintsJSON,
} from "../dist/index.js";

const file = JSON.parse(readFileSync(new URL("../../../authority/testdata/vectors.json", import.meta.url), "utf8"));

function summary(c) {
  const iso = (s) => new Date(s * 1000).toISOString().replace(".000Z", "Z");
  const out = {
    iss: c.iss, sub: c.sub, aud: c.aud, exp: iso(c.exp), jti: c.jti, client_id: c.clientId,
    scopes: c.scopes, chain: chain(c), provenance: provenance(c), principal: principal(c),
    delegation_id: c.delegationId, parent_delegation_id: c.parentDelegationId,
    authorization_details: constraintsJSON(c.constraints),
  };
  if (c.iat !== undefined) out.iat = iso(c.iat);
  return out;
}

// expected drops the fields Go's omitempty leaves out.
function expected(want) {
  const out = { ...want };
  for (const k of ["client_id", "delegation_id", "parent_delegation_id", "jti"]) out[k] ??= "";
  for (const k of ["scopes", "chain", "aud"]) out[k] ??= [];
  return out;
}

test("vectors.json is version 1 with enough cases", () => {
  assert.equal(file.version, 1);
  assert.ok(file.cases.length >= 30, `${file.cases.length} cases`);
});

test("every vector through createVerifier, verify and authorize", async (t) => {
  const server = http.createServer((req, res) => {
    const m = /^\/jwks\/(\d+)$/.exec(req.url);
    if (!m) {
      res.statusCode = 404; // no revocation feed: the verifier fails open
      res.end();
      return;
    }
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(file.cases[Number(m[1])].jwks));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  let authorized = 0;
  try {
    for (const [i, c] of file.cases.entries()) {
      await t.test(c.name, async () => {
        const now = new Date(c.now);
        const v = await createVerifier(c.options.issuer, c.options.audience, {
          jwksUrl: `${base}/jwks/${i}`, feedUrl: `${base}/feed`, allowHttp: true,
          leewaySeconds: c.options.leeway_seconds, algorithms: c.options.algorithms, now: () => now,
        });
        try {
          let wantErr = c.expect.error ?? "";
          if (wantErr === "" && !c.options.require_actor) wantErr = "missing_actor";
          let claims, err;
          try {
            claims = await v.verify(c.token);
          } catch (e) {
            err = e;
          }
          if (wantErr) {
            assert.ok(err instanceof VerifyError, `verify = ${err}, want ${wantErr}`);
            assert.equal(err.kind, wantErr, err.message);
            return;
          }
          assert.equal(err, undefined, err && err.message);
          assert.deepEqual(summary(claims), expected(c.expect.claims));
          if (!c.action) return;
          authorized++;
          const a = { tool: c.action.tool, category: c.action.category, resource: c.action.resource, resourceKind: "url", at: new Date(c.action.at) };
          if (c.action.amount) {
            a.amount = c.action.amount.value;
            a.currency = c.action.amount.currency;
          }
          const d = authorize(claims, a);
          assert.equal(d.allow, c.authorize.allow, `decision ${JSON.stringify(d)}`);
          if (!c.authorize.allow) assert.equal(d.constraint, c.authorize.constraint, d.message);
        } finally {
          v.close();
        }
      });
    }
  } finally {
    server.close();
  }
  assert.ok(authorized >= 15, `only ${authorized} authorize cases ran`);
});

test("every vector through verifyToken with the case's own options", async (t) => {
  for (const c of file.cases) {
    await t.test(c.name, async () => {
      const ks = await KeySet.parse(JSON.stringify(c.jwks));
      const o = c.options;
      let claims, err;
      try {
        claims = await verifyToken(c.token, ks, { issuer: o.issuer, audience: o.audience, leewaySeconds: o.leeway_seconds,
          algorithms: o.algorithms, requireActor: o.require_actor }, new Date(c.now).getTime() / 1000);
      } catch (e) {
        err = e;
      }
      if (c.expect.error) {
        assert.ok(err instanceof VerifyError, `verify = ${err}`);
        assert.equal(err.kind, c.expect.error, err.message);
        return;
      }
      assert.equal(err, undefined, err && err.message);
      assert.deepEqual(summary(claims), expected(c.expect.claims));
    });
  }
});
