// An Express API that enforces Legant delegation tokens itself, offline: the
// SDK caches the issuer's keys and revocation feed (starter for
// `legant snippet express`; docs/SDK.md explains it).
//
//   npm install @openlegant/legant express && npm install -D typescript @types/express @types/node
//   LEGANT_ISSUER=https://legant.example RESOURCE=https://api.example/expenses node app.ts   # Node ≥ 22.18, or tsc then node
import type { AddressInfo } from "node:net";
import express from "express";
import { createVerifier } from "@openlegant/legant";
import { requireToken } from "@openlegant/legant/express";

// The issuer whose tokens you accept, and this API's resource identifier
// (the audience tokens are minted for).
const verifier = await createVerifier(process.env.LEGANT_ISSUER ?? "", process.env.RESOURCE ?? "");
const app = express();

// Every request needs a valid, unrevoked token with scope expenses:write; the
// action (amount against max_amount and the budget, category, time window)
// is authorized before the handler runs, with the gateway's policy. Amounts
// stay strings: the SDK compares exact decimals.
app.post(
  "/expenses",
  requireToken(verifier, {
    scope: "expenses:write",
    action: (req) => ({ tool: "submit_expense", amount: String(req.query.amount ?? ""), currency: "USD", category: String(req.query.category ?? "") }),
  }),
  (req, res) => {
    const c = req.legant!.claims; // provenance(c): "user:alice → agent:planner → agent:executor"
    res.json({ accepted: `${req.query.amount} USD`, for: c.sub });
  },
);

// RFC 9728 metadata, named by the WWW-Authenticate challenges.
app.get("/.well-known/oauth-protected-resource/expenses", (_req, res) => {
  res.json(verifier.protectedResourceMetadata(["expenses:write"]));
});

const server = app.listen(Number(process.env.PORT ?? 8081), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
