-- SQLite's 0013 adds the audit journal's table. PostgreSQL makes each batch
-- durable on the server (and replicas share the chain), so it keeps no local
-- journal; this keeps both dialects' versions in step.
SELECT 1;
