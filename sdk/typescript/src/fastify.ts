// Fastify hook (Fastify 4 and 5).

import type { FastifyReply, FastifyRequest } from "fastify";
import type { Claims } from "./claims.js";
import { admit, requestInfo, type MiddlewareOptions } from "./http.js";
import type { Verifier } from "./verifier.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The verified claims, set by legant's hook. */
    legant?: { claims: Claims };
  }
}

/**
 * requireToken returns a Fastify preHandler hook (use it as a route's
 * preHandler or with addHook("preHandler", …)) with the refusals of the
 * Express middleware; claims land in request.legant. With opts.action the
 * hold is settled when the reply's status is below 400, released otherwise.
 */
export function requireToken(v: Verifier, opts: MiddlewareOptions<FastifyRequest> = {}) {
  return async function legantPreHandler(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const r = await admit(v, request, requestInfo(request.raw), opts);
    if ("refusal" in r) {
      await reply.code(r.refusal.status).headers(r.refusal.headers).send(JSON.stringify(r.refusal.body) + "\n");
      return;
    }
    request.legant = { claims: r.claims };
    const hold = r.hold;
    if (hold) {
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        void (ok ? hold.settle() : hold.release()).catch(() => {});
      };
      reply.raw.on("finish", () => finish(reply.statusCode < 400));
      reply.raw.on("close", () => finish(false));
    }
  };
}
