-- The OAuth authorization server (package issuer/oauth): registered clients,
-- local users and their login sessions, authorization codes, the grants a
-- user approved (one per delegation), refresh tokens and the mint counter.
-- Secrets (client secrets, session ids, codes, refresh tokens) are stored as
-- hex SHA-256 only. Times are int64 nanoseconds since the Unix epoch.

CREATE TABLE oauth_clients (
	client_id     TEXT PRIMARY KEY,
	secret_hash   TEXT NOT NULL DEFAULT '',   -- '' = public client
	name          TEXT NOT NULL DEFAULT '',
	client_uri    TEXT NOT NULL DEFAULT '',
	logo_uri      TEXT NOT NULL DEFAULT '',
	redirect_uris TEXT NOT NULL DEFAULT '[]', -- JSON array
	grant_types   TEXT NOT NULL DEFAULT '[]', -- JSON array
	auth_method   TEXT NOT NULL,              -- none, client_secret_basic, client_secret_post
	scope         TEXT NOT NULL DEFAULT '',
	metadata      TEXT NOT NULL DEFAULT '{}', -- the registration as accepted (JSON)
	created_ns    BIGINT NOT NULL
);

CREATE TABLE oauth_users (
	username      TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL, -- PHC string ($argon2id$...)
	created_ns    BIGINT NOT NULL,
	updated_ns    BIGINT NOT NULL,
	disabled      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE oauth_login_sessions (
	id_hash    TEXT PRIMARY KEY,
	username   TEXT NOT NULL,
	created_ns BIGINT NOT NULL,
	expires_ns BIGINT NOT NULL
);
CREATE INDEX oauth_login_sessions_user ON oauth_login_sessions (username);

CREATE TABLE oauth_codes (
	code_hash      TEXT PRIMARY KEY,
	client_id      TEXT NOT NULL,
	username       TEXT NOT NULL,
	redirect_uri   TEXT NOT NULL,
	code_challenge TEXT NOT NULL,
	resource       TEXT NOT NULL,
	delegation_id  TEXT NOT NULL,
	created_ns     BIGINT NOT NULL,
	expires_ns     BIGINT NOT NULL,
	used_ns        BIGINT NOT NULL DEFAULT 0 -- 0 = not redeemed yet
);

CREATE TABLE oauth_grants (
	delegation_id TEXT PRIMARY KEY, -- delegations.id
	client_id     TEXT NOT NULL,
	username      TEXT NOT NULL,
	resource      TEXT NOT NULL,
	scopes        TEXT NOT NULL DEFAULT '[]', -- JSON array
	constraints   TEXT NOT NULL,              -- authorization_details entry (JSON)
	created_ns    BIGINT NOT NULL,
	expires_ns    BIGINT NOT NULL
);
CREATE INDEX oauth_grants_user ON oauth_grants (username, created_ns);

CREATE TABLE oauth_refresh_tokens (
	token_hash    TEXT PRIMARY KEY,
	delegation_id TEXT NOT NULL, -- the family: every rotation of one grant
	client_id     TEXT NOT NULL,
	created_ns    BIGINT NOT NULL,
	expires_ns    BIGINT NOT NULL,
	used_ns       BIGINT NOT NULL DEFAULT 0, -- rotated: presenting it again is reuse
	revoked_ns    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX oauth_refresh_tokens_family ON oauth_refresh_tokens (delegation_id);

CREATE TABLE oauth_mints (
	delegation_id TEXT NOT NULL,
	at_ns         BIGINT NOT NULL
);
CREATE INDEX oauth_mints_delegation ON oauth_mints (delegation_id, at_ns);
