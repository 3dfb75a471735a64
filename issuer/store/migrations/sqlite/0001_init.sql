-- Legant store, SQLite. Times are int64 nanoseconds since the Unix epoch
-- (UTC) so that both backends hold exactly the same values; amounts are canonical decimal TEXT (exact; never REAL).

CREATE TABLE store_meta (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE signing_keys (
	kid        TEXT PRIMARY KEY,
	alg        TEXT NOT NULL,
	sealed     BLOB NOT NULL,           -- nonce || AES-256-GCM(private key PEM)
	created_ns BIGINT NOT NULL,
	retire_ns  BIGINT NOT NULL DEFAULT 0 -- 0 = verifies (and may sign) indefinitely
);

CREATE TABLE delegations (
	id              TEXT PRIMARY KEY,
	parent_id       TEXT NOT NULL DEFAULT '',
	user_sub        TEXT NOT NULL DEFAULT '',
	agents          TEXT NOT NULL DEFAULT '[]', -- JSON array, oldest first
	client_id       TEXT NOT NULL DEFAULT '',
	created_ns      BIGINT NOT NULL,
	expires_ns      BIGINT NOT NULL DEFAULT 0,
	revoked_version BIGINT NOT NULL DEFAULT 0   -- 0 = not revoked
);
CREATE INDEX delegations_parent ON delegations (parent_id);

CREATE TABLE revocation_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version BIGINT NOT NULL
);
INSERT INTO revocation_version (id, version) VALUES (1, 0);

CREATE TABLE revocations (
	kind       TEXT NOT NULL,   -- jti, delegation, agent, user
	value      TEXT NOT NULL,
	version    BIGINT NOT NULL, -- revocation_version when it was revoked
	reason     TEXT NOT NULL DEFAULT '',
	created_ns BIGINT NOT NULL,
	expires_ns BIGINT NOT NULL DEFAULT 0, -- 0 = never drops out of the feed
	PRIMARY KEY (kind, value)
);
CREATE INDEX revocations_version ON revocations (version);

CREATE TABLE ledger (
	delegation_id TEXT PRIMARY KEY,
	spent         TEXT NOT NULL DEFAULT '0', -- settled
	held          TEXT NOT NULL DEFAULT '0', -- open holds
	calls         BIGINT NOT NULL DEFAULT 0,
	calls_held    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE ledger_holds (
	id            TEXT PRIMARY KEY,
	delegation_id TEXT NOT NULL,
	amount        TEXT NOT NULL,
	state         TEXT NOT NULL, -- held, settled, released, expired
	created_ns    BIGINT NOT NULL,
	expires_ns    BIGINT NOT NULL,
	closed_ns     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX ledger_holds_open ON ledger_holds (delegation_id, expires_ns) WHERE state = 'held';

CREATE TABLE gateway_sessions (
	id                  TEXT PRIMARY KEY,
	user_sub            TEXT NOT NULL,
	agents              TEXT NOT NULL, -- JSON array, oldest first
	client_id           TEXT NOT NULL DEFAULT '',
	upstream            TEXT NOT NULL,
	protocol_version    TEXT NOT NULL DEFAULT '',
	upstream_session_id TEXT NOT NULL DEFAULT '',
	token_id            TEXT NOT NULL DEFAULT '',
	started_ns          BIGINT NOT NULL,
	last_activity_ns    BIGINT NOT NULL,
	calls_allowed       BIGINT NOT NULL DEFAULT 0,
	calls_denied        BIGINT NOT NULL DEFAULT 0,
	amount_spent        TEXT NOT NULL DEFAULT '0',
	state               TEXT NOT NULL, -- live, killed, closed
	end_reason          TEXT NOT NULL DEFAULT '',
	ended_ns            BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX gateway_sessions_user ON gateway_sessions (user_sub, state);
CREATE INDEX gateway_sessions_token ON gateway_sessions (token_id);

CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

CREATE TABLE audit_events (
	seq        INTEGER PRIMARY KEY, -- the rowid
	at_ns      BIGINT NOT NULL,
	kind       TEXT NOT NULL,
	user_sub   TEXT NOT NULL,
	agents     TEXT NOT NULL, -- JSON array, oldest first
	client_id  TEXT NOT NULL,
	upstream   TEXT NOT NULL,
	method     TEXT NOT NULL,
	tool       TEXT NOT NULL,
	decision   TEXT NOT NULL,
	reason     TEXT NOT NULL,
	constraint_name TEXT NOT NULL, -- "constraint" is reserved in SQL
	limit_value     TEXT NOT NULL,
	actual_value    TEXT NOT NULL,
	token_id   TEXT NOT NULL,
	session_id TEXT NOT NULL,
	args_hash  TEXT NOT NULL,
	args       BLOB,         -- raw arguments, only when configured to keep them
	prev_hash  TEXT NOT NULL,
	hash       TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at_ns);
CREATE INDEX audit_events_user ON audit_events (user_sub, seq);

CREATE TABLE audit_checkpoints (
	kind   TEXT NOT NULL,   -- prune
	seq    BIGINT NOT NULL,
	hash   TEXT NOT NULL,
	at_ns  BIGINT NOT NULL,
	signed TEXT NOT NULL,   -- compact JWS (audit.PruneType)
	PRIMARY KEY (kind, seq)
);
