-- The jti of every DPoP proof (RFC 9449) a gateway or resource server of
-- this store accepted, until the proof is too old to be accepted again: a
-- proof replayed on another replica is refused. Expired rows are pruned.
CREATE TABLE dpop_proofs (
    jti      TEXT PRIMARY KEY,
    until_ns BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_until ON dpop_proofs (until_ns);
