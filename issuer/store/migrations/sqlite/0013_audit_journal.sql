-- The audit journal (auditjournal.go): an append-only file beside the
-- database that makes an audit event durable with one write and one
-- fdatasync; a background applier then writes the events into the chain.
-- This row names the journal file that belongs to this database (a random
-- id the file's header and every frame carry) and the last journal sequence
-- number whose event is in audit_events, moved in the same transaction as
-- the events.
CREATE TABLE audit_journal (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    journal_id BLOB NOT NULL,
    applied INTEGER NOT NULL
);
