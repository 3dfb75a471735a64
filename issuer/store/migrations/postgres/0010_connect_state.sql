-- The upstream connect flow's state (issue #14), shared by every replica on
-- the store so that a callback may land on any of them and a restart loses
-- no flow in progress.
--
-- upstream_connect_pending: an authorization sent to an upstream's server
-- and not yet returned, by the SHA-256 of its state (the state itself, a
-- bearer handle, is never stored). Single use: taking it deletes it. The
-- PKCE verifier is sealed with the key-encryption scheme, bound to every
-- other column of the row. server is the gateway's view of the
-- authorization server and its client there (no secret).
CREATE TABLE upstream_connect_pending (
	state_hash  TEXT NOT NULL PRIMARY KEY,
	username    TEXT NOT NULL,
	upstream    TEXT NOT NULL,
	verifier    BYTEA NOT NULL,
	server      TEXT NOT NULL,
	scope       TEXT NOT NULL DEFAULT '',
	elicitation TEXT NOT NULL DEFAULT '',
	session_id  TEXT NOT NULL DEFAULT '',
	expires_ns  BIGINT NOT NULL,
	created_ns  BIGINT NOT NULL
);
CREATE INDEX upstream_connect_pending_expires ON upstream_connect_pending (expires_ns);

-- upstream_client_registrations: the gateway's RFC 7591 registrations at
-- upstreams' authorization servers, one per (upstream settings, server,
-- registration endpoint, redirect URI), by the SHA-256 of that key; the
-- first stored wins, so replicas share one. The client secret ('' for a
-- public client) is sealed, bound to the other columns of the row.
CREATE TABLE upstream_client_registrations (
	key_hash    TEXT NOT NULL PRIMARY KEY,
	upstream    TEXT NOT NULL,
	issuer      TEXT NOT NULL,
	client_id   TEXT NOT NULL,
	secret      BYTEA NOT NULL,
	auth_method TEXT NOT NULL,
	created_ns  BIGINT NOT NULL
);
