// Express middleware (Express 4 and 5).

import type { NextFunction, Request, Response } from "express";
import type { Claims } from "./claims.js";
import { admit, requestInfo, type MiddlewareOptions } from "./http.js";
import type { Verifier } from "./verifier.js";

declare module "express-serve-static-core" {
  interface Request {
    /** The verified claims, set by legant's middleware. */
    legant?: { claims: Claims };
  }
}

/**
 * requireToken returns Express middleware that admits only requests bearing
 * a delegation token the verifier accepts, with the claims in req.legant.
 * Refusals follow RFC 6750 with the Go SDK's texts: 401 with
 * WWW-Authenticate: Bearer resource_metadata="…", error="invalid_token" for
 * a bad, expired or revoked token (and a WWW-Authenticate DPoP challenge,
 * carrying the error when the DPoP proof is at fault: 401
 * invalid_dpop_proof); 403 error="insufficient_scope" for a
 * missing scope or a policy denial (JSON body carries the decision); 503
 * while a required feed is stale or the ledger is unavailable.
 */
export function requireToken(v: Verifier, opts: MiddlewareOptions<Request> = {}) {
  return (req: Request, res: Response, next: NextFunction): void => {
    admit(v, req, requestInfo(req), opts).then(
      (r) => {
        if ("refusal" in r) {
          res.status(r.refusal.status).set(r.refusal.headers).send(JSON.stringify(r.refusal.body) + "\n");
          return;
        }
        req.legant = { claims: r.claims };
        const hold = r.hold;
        if (hold) {
          let done = false;
          const finish = (ok: boolean) => {
            if (done) return;
            done = true;
            void (ok ? hold.settle() : hold.release()).catch(() => {});
          };
          res.on("finish", () => finish(res.statusCode < 400));
          res.on("close", () => finish(false));
        }
        next();
      },
      (err) => next(err),
    );
  };
}
