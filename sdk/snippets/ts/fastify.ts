// A Fastify API that enforces Legant delegation tokens itself, offline: the
// SDK caches the issuer's keys and revocation feed (starter for
// `legant snippet fastify`; docs/SDK.md explains it).
//
//   npm install @openlegant/legant fastify && npm install -D typescript @types/node
//   LEGANT_ISSUER=https://legant.example RESOURCE=https://api.example/expenses node app.ts   # Node ≥ 22.18, or tsc then node
import Fastify from "fastify";
import { createVerifier } from "@openlegant/legant";
import { requireToken } from "@openlegant/legant/fastify";

// The issuer whose tokens you accept, and this API's resource identifier
// (the audience tokens are minted for).
const verifier = await createVerifier(process.env.LEGANT_ISSUER ?? "", process.env.RESOURCE ?? "");
const app = Fastify();

type Expense = { Querystring: { amount?: string; category?: string } };

// Every request needs a valid, unrevoked token with scope expenses:write; the
// action (amount against max_amount and the budget, category, time window)
// is authorized in preHandler, before the handler runs, with the gateway's
// policy. Amounts stay strings: the SDK compares exact decimals.
app.post<Expense>("/expenses", {
  preHandler: requireToken(verifier, {
    scope: "expenses:write",
    action: (req) => {
      const q = req.query as Expense["Querystring"];
      return { tool: "submit_expense", amount: q.amount ?? "", currency: "USD", category: q.category ?? "" };
    },
  }),
}, async (req) => {
  const c = req.legant!.claims; // provenance(c): "user:alice → agent:planner → agent:executor"
  return { accepted: `${req.query.amount} USD`, for: c.sub };
});

// RFC 9728 metadata, named by the WWW-Authenticate challenges.
app.get("/.well-known/oauth-protected-resource/expenses", async () => verifier.protectedResourceMetadata(["expenses:write"]));

const url = await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT ?? 8081) });
console.log(`listening on ${url}`);
