// The protect-your-api example in TypeScript's SDK (sdk/typescript): an
// Express API that enforces Legant delegation tokens itself, offline, from
// the JWKS and signed revocation feed files run.sh publishes.
//
//   node examples/protect-your-api/typescript/app.mjs \
//       --issuer https://issuer.example --jwks jwks.json --feed revoked.jwt --addr-file addr
//
// It imports @openlegant/legant and express as any project would (npm install
// @openlegant/legant express); run.sh resolves both to this repository's
// built sdk/typescript and the express it locks.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import express from "express";
import { createVerifier, provenance } from "@openlegant/legant";
import { requireToken } from "@openlegant/legant/express";

const RESOURCE = "https://api.example/expenses";

const { values: a } = parseArgs({
  options: {
    issuer: { type: "string" },
    jwks: { type: "string" }, // the issuer's JWKS, as a file
    feed: { type: "string" }, // the issuer's signed revocation feed, as a file
    listen: { type: "string", default: "127.0.0.1:0" },
    "addr-file": { type: "string" }, // write the address listened on here
    "feed-interval-ms": { type: "string", default: "200" },
  },
});
if (!a.issuer || !a.jwks || !a.feed) {
  console.error("usage: app.mjs --issuer URL --jwks FILE --feed FILE [--listen HOST:PORT] [--addr-file FILE]");
  process.exit(2);
}

const v = await createVerifier(a.issuer, RESOURCE, { jwksFile: a.jwks, feedFile: a.feed, feedIntervalMs: Number(a["feed-interval-ms"]) });
const app = express();
app.post("/expenses", requireToken(v, {
  scope: "expenses:write",
  action: (req) => ({ tool: "submit_expense", amount: String(req.query.amount ?? ""), currency: "USD" }),
}), (req, res) => {
  res.json({ accepted: `${req.query.amount} USD`, by: provenance(req.legant.claims) });
});
app.get("/.well-known/oauth-protected-resource/expenses", (_req, res) => {
  res.json(v.protectedResourceMetadata(["expenses:write"]));
});

const [host, port] = [a.listen.slice(0, a.listen.lastIndexOf(":")), Number(a.listen.slice(a.listen.lastIndexOf(":") + 1))];
const server = app.listen(port, host, () => {
  const addr = `${host}:${server.address().port}`;
  console.log(`typescript API listening on ${addr}`);
  if (a["addr-file"]) writeFileSync(a["addr-file"], addr);
});
const stop = () => { v.close(); server.close(); server.closeAllConnections(); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
