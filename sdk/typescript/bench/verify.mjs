// Measures verify + authorize per call, as BenchmarkVerifyAuthorize does in
// Go (sdk/bench_test.go): a real verifier (JWKS and feed over loopback
// HTTP), one token reused (the verified-token cache serves it, as in the
// gateway), and a cold variant with a fresh token each call (signature
// checked every time). Run: node sdk/typescript/bench/verify.mjs (after npm
// run build).
import { createVerifier, authorize } from "../dist/index.js";
import { startIssuer } from "../test/issuer.mjs";

const iss = await startIssuer();
await iss.publish({ version: 1 });
const aud = "https://api.example/expenses";
const v = await createVerifier(iss.url, aud, { allowHttp: true });
const constraints = { actions: ["submit_expense"], categories: ["travel"], max_amount: { value: "500", currency: "USD" },
  window: { tz: "Europe/Paris", segments: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"].map((day) => ({ day, start: "00:00", end: "24:00" })) } };
const action = { tool: "submit_expense", amount: "499.99", currency: "USD", category: "Travel" };

async function run(label, tokens, n) {
  for (let i = 0; i < Math.min(n, 2000); i++) authorize(await v.verify(tokens[i % tokens.length]), action); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const d = authorize(await v.verify(tokens[i % tokens.length]), action);
    if (!d.allow) throw new Error(d.message);
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${label}: ${(ns / 1000).toFixed(2)} µs/op (${n} ops)`);
}

const one = await iss.token({ aud, constraints });
await run("verify+authorize, cached token", [one], 100_000);
const many = await Promise.all(Array.from({ length: 5000 }, () => iss.token({ aud, constraints })));
await run("verify+authorize, fresh token (EdDSA signature each call)", many, 5000);
v.close();
await iss.close();
