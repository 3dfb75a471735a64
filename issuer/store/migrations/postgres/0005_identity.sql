-- Sign-in for organisations (issue 18): roles, e-mail, OpenID Connect
-- parameters on codes, upstream SSO identities, TOTP and recovery codes,
-- and remembered consents. Existing accounts keep working: every new column
-- has a default (not an admin, no e-mail, no second factor).

ALTER TABLE oauth_users ADD COLUMN is_admin BIGINT NOT NULL DEFAULT 0;
ALTER TABLE oauth_users ADD COLUMN email TEXT NOT NULL DEFAULT '';

-- stage '' is a full login; 'mfa' waits for the second factor; 'enrol' may
-- only enrol one (an admin when second factors are required for admins).
ALTER TABLE oauth_login_sessions ADD COLUMN stage TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_login_sessions ADD COLUMN auth_ns BIGINT NOT NULL DEFAULT 0;
ALTER TABLE oauth_login_sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';

-- OpenID Connect: the nonce and the OIDC scopes (openid email profile) of
-- the authorization request, the time of the login that approved it.
ALTER TABLE oauth_codes ADD COLUMN nonce TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_codes ADD COLUMN oidc_scopes TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_codes ADD COLUMN auth_ns BIGINT NOT NULL DEFAULT 0;

-- A user signed in through an upstream OpenID provider: (issuer, subject)
-- names the account there, once and for all.
CREATE TABLE oauth_identities (
	issuer     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	username   TEXT NOT NULL,
	email      TEXT NOT NULL DEFAULT '',
	created_ns BIGINT NOT NULL,
	last_ns    BIGINT NOT NULL,
	PRIMARY KEY (issuer, subject)
);
CREATE INDEX oauth_identities_user ON oauth_identities (username);

-- TOTP (RFC 6238): the secret sealed with the key-encryption secret;
-- confirmed once the user proved a code; last_step refuses a code twice.
CREATE TABLE oauth_totp (
	username     TEXT PRIMARY KEY,
	secret       BYTEA NOT NULL,
	confirmed_ns BIGINT NOT NULL DEFAULT 0,
	last_step    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE oauth_recovery_codes (
	username  TEXT NOT NULL,
	code_hash TEXT NOT NULL,
	used_ns   BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (username, code_hash)
);

-- A consent remembered per (user, client, resource, scopes) until revoked:
-- the next identical request is approved with the same limits.
CREATE TABLE oauth_consents (
	username    TEXT NOT NULL,
	client_id   TEXT NOT NULL,
	resource    TEXT NOT NULL, -- '' for sign-in only (OpenID Connect)
	scopes      TEXT NOT NULL, -- sorted, space separated
	tools       TEXT NOT NULL DEFAULT '[]',
	constraints TEXT NOT NULL DEFAULT '{}',
	ttl_ns      BIGINT NOT NULL,
	created_ns  BIGINT NOT NULL,
	PRIMARY KEY (username, client_id, resource, scopes)
);
