-- Which delegations used an upstream connection (issue #14): the gateway
-- records each (user, upstream, delegation) the first time a call under
-- that delegation sends the user's upstream token. Revoking a delegation
-- (with its sub-tree), or an agent in its chain, deletes the connections
-- it used (revocations.go); deleting a connection deletes its rows here.

CREATE TABLE upstream_connection_uses (
	username      TEXT NOT NULL,
	upstream      TEXT NOT NULL,             -- the registry slug
	delegation_id TEXT NOT NULL,
	agents        TEXT NOT NULL DEFAULT '[]', -- the delegation's agent chain, JSON, oldest first
	created_ns    BIGINT NOT NULL,
	PRIMARY KEY (username, upstream, delegation_id)
);
CREATE INDEX upstream_connection_uses_delegation ON upstream_connection_uses (delegation_id);
