-- Passkeys (WebAuthn): the credentials users registered, and the state of
-- ceremonies in progress (single use, short-lived: the challenge).

CREATE TABLE oauth_passkeys (
	credential_id TEXT PRIMARY KEY, -- base64url of the credential id
	username      TEXT NOT NULL,
	credential    TEXT NOT NULL,    -- go-webauthn Credential (JSON: public key, sign count, flags)
	created_ns    BIGINT NOT NULL,
	used_ns       BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX oauth_passkeys_user ON oauth_passkeys (username);

CREATE TABLE oauth_webauthn_ceremonies (
	id_hash    TEXT PRIMARY KEY,
	username   TEXT NOT NULL,      -- '' for a passwordless login (the user is not known yet)
	data       TEXT NOT NULL,      -- go-webauthn SessionData (JSON)
	expires_ns BIGINT NOT NULL
);
