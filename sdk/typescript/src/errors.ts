/**
 * The kinds of verification failure, as named by authority/testdata/vectors.json
 * and the Go sentinels (authority.ErrExpired…), plus the SDK's own
 * ("revoked", "feed_stale", "no_token": no Authorization header with one
 * Bearer or DPoP token) and "dpop" (a DPoPError: the proof, or how the
 * token was presented, under RFC 9449).
 */
export type VerifyErrorKind =
  | "malformed"
  | "algorithm"
  | "unknown_key"
  | "signature"
  | "expired"
  | "not_yet_valid"
  | "issuer"
  | "audience"
  | "missing_actor"
  | "type"
  | "constraints"
  | "revoked"
  | "feed_stale"
  | "no_token"
  | "dpop";

/**
 * VerifyError is a refused token. Its message is for logs (it may carry
 * detail about the token); errorDescription(err) gives what a client may see.
 */
export class VerifyError extends Error {
  constructor(
    readonly kind: VerifyErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "VerifyError";
  }
}

/** errorDescription says why a token was refused in words a client may see (the Go SDK's texts). */
export function errorDescription(err: unknown): string {
  if (err === undefined || err === null) return "";
  const kind = err instanceof VerifyError ? err.kind : "malformed";
  switch (kind) {
    case "dpop":
      return (err as VerifyError & { description: string }).description;
    case "no_token":
      return "a bearer token is required";
    case "revoked":
      return "the token has been revoked";
    case "feed_stale":
      return "revocation status is unavailable; try again later";
    case "expired":
      return "the token has expired";
    case "not_yet_valid":
      return "the token is not valid yet";
    case "audience":
      return "the token's audience is not this resource";
    case "issuer":
      return "the token's issuer is not trusted";
    case "missing_actor":
      return "the token is not a delegation token (no act claim)";
    case "unknown_key":
      return "the token is signed with an unknown key";
    case "algorithm":
      return "the token's signing algorithm is not allowed";
    case "signature":
      return "the token's signature is invalid";
    case "constraints":
      return "the token's constraints are invalid";
  }
  return "the token is malformed";
}
