-- Producer-assigned event ids make a retried audit append idempotent: a batch
-- retried after an ambiguous failure (the commit was sent, its answer lost)
-- skips the events already written instead of writing them twice. NULL for
-- events appended without an id.
ALTER TABLE audit_events ADD COLUMN event_id TEXT;
CREATE UNIQUE INDEX audit_events_event_id ON audit_events (event_id);
