-- Four-eyes approval requests (the gateway's approval.go), shared by every
-- replica: a call that needs a second person's approval, bound to one exact
-- call (call_key: the token's jti, upstream, tool and argument hash), from
-- its request until it is used, declined and answered, cancelled or expired.
CREATE TABLE approvals (
    id            TEXT PRIMARY KEY,
    call_key      TEXT NOT NULL UNIQUE,
    state         TEXT NOT NULL,
    approver      TEXT NOT NULL DEFAULT '',
    expires_ns    BIGINT NOT NULL,
    token_id      TEXT NOT NULL,
    delegation_id TEXT NOT NULL DEFAULT '',
    user_id       TEXT NOT NULL,
    agents        TEXT NOT NULL,
    client_id     TEXT NOT NULL DEFAULT '',
    session_id    TEXT NOT NULL DEFAULT '',
    upstream      TEXT NOT NULL,
    tool          TEXT NOT NULL,
    args_hash     TEXT NOT NULL,
    args          TEXT NOT NULL,
    approvers     TEXT NOT NULL
);
CREATE INDEX approvals_token ON approvals (token_id);
CREATE INDEX approvals_expires ON approvals (expires_ns);
