// The Fastify hook on a real Fastify server on loopback, against a real
// issuer (metadata, JWKS, signed revocation feed).
import { test } from "node:test";
import assert from "node:assert/strict";
import Fastify from "fastify";
import { createVerifier } from "../dist/index.js";
import { requireToken } from "../dist/fastify.js";
import { startIssuer } from "./issuer.mjs";

test("fastify: allowed 200, denied 403 insufficient_scope, revoked 401", async () => {
  const iss = await startIssuer();
  await iss.publish({ version: 7 });
  const app = Fastify();
  let aud = "";
  let v;
  app.get("/files/*", { preHandler: (req, reply) => requireToken(v, {
    action: (r) => ({ tool: "read_file", resource: "/" + r.params["*"], resourceKind: "path", category: r.headers["x-category"] }),
  })(req, reply) }, async (req) => ({ file: req.params["*"], provenance: req.legant.claims.sub }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  const base = `http://127.0.0.1:${app.server.address().port}`;
  aud = base + "/files";
  v = await createVerifier(iss.url, aud, { allowHttp: true });
  try {
    const token = await iss.token({ aud, agents: ["planner", "reader"], constraints: { actions: ["read_file"], locations: ["/docs/"], categories: ["Straße"] } });
    const get = (path, cat = "STRASSE", tok = token) => fetch(base + path, { headers: { authorization: "Bearer " + tok, "x-category": cat } });

    let r = await get("/files/docs/a.txt");
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { file: "docs/a.txt", provenance: "alice" });

    r = await get("/files/payroll/x");
    assert.equal(r.status, 403);
    assert.match(r.headers.get("www-authenticate"), /error="insufficient_scope", error_description="denied: resource \/payroll\/x is not allowed"/);
    assert.deepEqual((await r.json()).decision, { reason: "resource", limit: "/docs/", value: "/payroll/x" });

    r = await get("/files/docs/a.txt", "electronics");
    assert.equal(r.status, 403);
    assert.equal((await r.json()).decision.reason, "category");

    r = await get("/files/docs/a.txt", "x", "not-a-token");
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate"), /error="invalid_token", error_description="the token is malformed"/);

    await iss.publish({ version: 8, agents: ["reader"] });
    await v.refreshFeed();
    assert.equal(v.feedStatus().entries, 1);
    r = await get("/files/docs/a.txt");
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate"), /error="invalid_token", error_description="the token has been revoked"/);
  } finally {
    v.close();
    await app.close();
    await iss.close();
  }
});
