// DPoP (RFC 9449) across languages. Go → TypeScript: the tokens and proofs of
// sdk/testdata/dpop_interop.json, made in Go, sent to real Express, Fastify
// and node:http (the MCP bearerAuth) servers on loopback, which must give
// the Go middleware's answers recorded there (status, JSON body, every
// WWW-Authenticate value), case by case and in order (a replay is the second
// use of a proof). TypeScript → Go: proofs made by createProof are verified
// by Go's dpop.Verify (go run ../testdata/dpopverify).
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import express from "express";
import Fastify from "fastify";
import { exportJWK, generateKeyPair } from "jose";
import {
  createVerifier, createProof, verifyProof, jwkThumbprint, normalizeUrl, MemoryReplayCache, DPoPError, errorDescription, parseClaims, parseJSON,
} from "../dist/index.js";
import { requireToken as expressToken } from "../dist/express.js";
import { requireToken as fastifyToken } from "../dist/fastify.js";
import { bearerAuth } from "../dist/mcp.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..", "..");
const fx = JSON.parse(readFileSync(join(repo, "sdk", "testdata", "dpop_interop.json"), "utf8"));
const modes = ["allow", "require", "bearer"];

async function verifierFor(mode) {
  const dir = mkdtempSync(join(tmpdir(), "legant-dpop-"));
  writeFileSync(join(dir, "jwks.json"), JSON.stringify(fx.jwks));
  return createVerifier(fx.issuer, fx.audience, {
    jwksFile: join(dir, "jwks.json"), feedFile: join(dir, "no-feed"), now: () => new Date(fx.now * 1000),
    dpop: { mode, publicUrl: fx.public_url },
  });
}

// send makes one request with node:http, so that every WWW-Authenticate value is seen apart.
function send(base, c) {
  const headers = {};
  if (c.authorization) headers.authorization = c.authorization;
  if (c.dpop) headers.dpop = c.dpop;
  return new Promise((resolve, reject) => {
    const req = http.request(base + c.path, { method: c.method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body: JSON.parse(body), challenges: res.headersDistinct["www-authenticate"] ?? [] }));
    });
    req.on("error", reject);
    req.end();
  });
}

const servers = {
  async express(v) {
    const app = express();
    app.post("/expenses", expressToken(v), (req, res) => res.json({ sub: req.legant.claims.sub }));
    const srv = await new Promise((r) => { const s = app.listen(0, "127.0.0.1", () => r(s)); });
    return { base: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((r) => srv.close(r)) };
  },
  async fastify(v) {
    const app = Fastify();
    app.post("/expenses", { preHandler: fastifyToken(v) }, async (req) => ({ sub: req.legant.claims.sub }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    return { base: `http://127.0.0.1:${app.server.address().port}`, close: () => app.close() };
  },
  async "node:http (mcp bearerAuth)"(v) {
    const auth = bearerAuth(v);
    const srv = http.createServer((req, res) => auth(req, res, (err) => {
      res.setHeader("content-type", "application/json");
      res.end(err ? "{}" : JSON.stringify({ sub: req.auth.extra.legantClaims.sub }));
    }));
    await new Promise((r) => srv.listen(0, "127.0.0.1", r));
    return { base: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((r) => srv.close(r)) };
  },
};

for (const [name, start] of Object.entries(servers)) {
  test(`dpop interop: ${name} answers every Go-made request as the Go middleware does`, async () => {
    assert.ok(fx.cases.length >= 37, `${fx.cases.length} cases`);
    for (const mode of modes) {
      const v = await verifierFor(mode);
      const srv = await start(v);
      try {
        for (const c of fx.cases.filter((c) => c.mode === mode)) {
          const got = await send(srv.base, c);
          assert.deepEqual(got, { status: c.status, body: c.body, challenges: c.www_authenticate ?? [] }, `${mode}: ${c.name}`);
        }
      } finally {
        v.close();
        await srv.close();
      }
    }
  });
}

test("dpop interop: htu normalisation and thumbprints agree with Go", () => {
  for (const u of fx.urls) {
    let got = "";
    try {
      got = normalizeUrl(u.in);
    } catch {
      got = "";
    }
    assert.equal(got, u.out, `normalizeUrl(${JSON.stringify(u.in)})`);
  }
  for (const t of fx.thumbprints) assert.equal(jwkThumbprint(t.jwk), t.jkt);
});

test("verify (no request) refuses a bound token; cnf is parsed as authority parses it", async () => {
  const v = await verifierFor("allow");
  try {
    const stolen = fx.cases.find((c) => c.name === "stolen token as bearer").authorization.slice("Bearer ".length);
    await assert.rejects(v.verify(stolen), (e) => e instanceof DPoPError && e.reason === "bound_as_bearer" && e.code === "invalid_token" &&
      errorDescription(e) === "the token is bound to a key (DPoP): present it with the DPoP scheme and a proof");
    const bearer = fx.cases.find((c) => c.name === "bearer token").authorization.slice("Bearer ".length);
    assert.equal((await v.verify(bearer)).sub, "alice");
  } finally {
    v.close();
  }
  const base = { sub: "a", authorization_details: [{ type: "legant_delegation" }] };
  const parse = (extra) => parseClaims(parseJSON(JSON.stringify({ ...base, ...extra })));
  assert.equal(parse({ cnf: { jkt: "abc" } }).cnf.jkt, "abc");
  assert.equal(parse({ act: { sub: "x", cnf: { jkt: "k2" }, act: { sub: "y", cnf: { jkt: "k1" } } } }).act.act.cnf.jkt, "k1");
  for (const cnf of [{ "x5t#S256": "a" }, { jkt: "a", other: "b" }, {}, { jkt: "" }, { jkt: 5 }, null, "jkt"]) {
    assert.throws(() => parse({ cnf }), (e) => e.kind === "malformed", JSON.stringify(cnf));
    assert.throws(() => parse({ act: { sub: "x", cnf } }), (e) => e.kind === "malformed", "act " + JSON.stringify(cnf));
  }
  assert.throws(() => parseClaims(parseJSON('{"sub":"a","cnf":{"jkt":"a","jkt":"b"}}')), (e) => e.kind === "malformed");
});

test("dpop interop: proofs made by createProof verify in Go (dpop.Verify) and here", async () => {
  const now = fx.now;
  const url = "https://api.example/expenses";
  const keys = await Promise.all([
    generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true }), generateKeyPair("ES256", { extractable: true }), generateKeyPair("ES384", { extractable: true }),
    generateKeyPair("PS256", { modulusLength: 2048, extractable: true }),
  ]);
  const reqs = [];
  const want = [];
  for (const k of keys) {
    const jkt = jwkThumbprint(await exportJWK(k.publicKey));
    const p = await createProof(k.privateKey, "POST", url, { accessToken: "tok", issuedAt: now });
    assert.equal(verifyProof(p, { method: "POST", url, accessToken: "tok", jkt }, now).jkt, jkt);
    reqs.push({ proof: p, method: "POST", url, access_token: "tok", jkt, now });
    want.push({ ok: true, jkt });
    reqs.push({ proof: p, method: "GET", url, access_token: "tok", jkt, now });
    want.push({ ok: false, code: "invalid_dpop_proof" });
    reqs.push({ proof: p, method: "POST", url, access_token: "other", jkt, now });
    want.push({ ok: false, code: "invalid_dpop_proof" });
    reqs.push({ proof: p, method: "POST", url: "HTTPS://API.EXAMPLE:443/expenses?x=1", access_token: "tok", jkt: "someone-else", now });
    want.push({ ok: false, code: "invalid_dpop_proof" });
    reqs.push({ proof: p, method: "POST", url, access_token: "tok", jkt, now: now + 61 });
    want.push({ ok: false, code: "invalid_dpop_proof" });
  }
  const nonced = await createProof(keys[1].privateKey, "POST", url, { nonce: "n-1", issuedAt: now });
  reqs.push({ proof: nonced, method: "POST", url, now });
  want.push({ ok: true, jkt: jwkThumbprint(await exportJWK(keys[1].publicKey)) });
  const out = execFileSync("go", ["run", "./sdk/testdata/dpopverify"], { cwd: repo, input: JSON.stringify(reqs), encoding: "utf8" });
  assert.deepEqual(JSON.parse(out), want);
  // And here, for the same requests.
  for (const [i, r] of reqs.entries()) {
    let got;
    try {
      got = { ok: true, jkt: verifyProof(r.proof, { method: r.method, url: r.url, accessToken: r.access_token, jkt: r.jkt }, r.now).jkt };
    } catch (e) {
      got = { ok: false, code: e.code };
    }
    assert.deepEqual(got, want[i], `request ${i}`);
  }
});

test("MemoryReplayCache is bounded and fails closed when full", () => {
  let t = 1000;
  const c = new MemoryReplayCache(2, () => new Date(t * 1000));
  assert.equal(c.remember("a", 1065), true);
  assert.equal(c.remember("a", 1065), false, "replay");
  assert.equal(c.remember("b", 1030), true);
  assert.equal(c.remember("c", 1065), false, "full, nothing expired: refused");
  t = 1031;
  assert.equal(c.remember("c", 1096), true, "b expired and was dropped");
  assert.equal(c.size, 2);
  t = 1066;
  assert.equal(c.remember("a", 1131), true, "an expired jti may be seen again");
});
