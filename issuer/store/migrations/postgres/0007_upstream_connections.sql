-- Upstream connections (issue #14): a user's OAuth tokens for an upstream
-- whose registry auth kind is oauth, one row per (user, upstream). The
-- tokens are sealed with the store's key-encryption scheme (keycrypt.go),
-- bound to the row's user and upstream; nothing here is readable without
-- the key-encryption secret.

CREATE TABLE upstream_connections (
	username   TEXT NOT NULL,
	upstream   TEXT NOT NULL,    -- the registry slug
	tokens     BYTEA NOT NULL,    -- sealed JSON: access token, refresh token, type
	scope      TEXT NOT NULL DEFAULT '',
	issuer     TEXT NOT NULL DEFAULT '', -- the upstream's authorization server
	client_id  TEXT NOT NULL DEFAULT '',
	expires_ns BIGINT NOT NULL DEFAULT 0, -- the access token's expiry; 0: unknown
	created_ns BIGINT NOT NULL,
	updated_ns BIGINT NOT NULL,
	PRIMARY KEY (username, upstream)
);
