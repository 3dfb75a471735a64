// A real issuer for the tests, on loopback: RFC 8414 metadata, a JWKS and
// a signed revocation feed, with an Ed25519 key generated per run. It signs
// delegation tokens and feeds exactly as the Go issuer lays them out
// (authority.Sign, revfeed.Sign).
import http from "node:http";
import https from "node:https";
import { generateKeyPair, exportJWK, SignJWT, CompactSign } from "jose";

// With tls ({ key, cert } in PEM) it serves https, as an issuer must for a
// verifier without allowHttp.
export async function startIssuer({ tls } = {}) {
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "EdDSA", use: "sig" };
  let feed = "";
  const requests = [];
  const server = (tls ? https : http).createServer(tls ?? {}, (req, res) => {
    requests.push(req.url);
    res.setHeader("content-type", "application/json");
    if (req.url === "/.well-known/oauth-authorization-server") {
      res.end(JSON.stringify({ issuer: iss.url, jwks_uri: iss.url + "/jwks" }));
    } else if (req.url === "/jwks") {
      res.end(JSON.stringify({ keys: [jwk] }));
    } else if (req.url === "/.well-known/revoked" && feed) {
      res.setHeader("content-type", "application/jwt");
      res.end(feed);
    } else {
      res.statusCode = 404;
      res.end("{}");
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const iss = {
    url: `${tls ? "https" : "http"}://127.0.0.1:${server.address().port}`,
    requests,
    /** token signs a delegation token for aud with constraints (a legant_delegation entry without type). */
    async token({ aud, sub = "alice", agents = ["planner"], scope = "", constraints = {}, jti = "tok-" + Math.random().toString(36).slice(2), delegationId = "dlg-1", ttl = 3600 }) {
      let act;
      for (const a of agents) act = act ? { sub: a, act } : { sub: a };
      const now = Math.floor(Date.now() / 1000);
      const claims = { iss: iss.url, sub, aud, exp: now + ttl, iat: now, jti, scope, delegation_id: delegationId,
        authorization_details: [{ type: "legant_delegation", ...constraints }] };
      if (act) claims.act = act;
      return new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", kid: "k1", typ: "at+jwt" }).sign(privateKey);
    },
    /** publish serves a signed feed with these revocations. */
    async publish({ version, jti = [], delegations = [], agents = [], users = [], iat = Math.floor(Date.now() / 1000) }) {
      const payload = { iss: iss.url, iat, exp: iat + 300, version, jti, delegations, agents, users };
      feed = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader({ alg: "EdDSA", kid: "k1", typ: "legant-revocations+jwt" })
        .sign(privateKey);
    },
    close: () => new Promise((r) => server.close(r)),
  };
  return iss;
}
