-- PostgreSQL's 0012 drops the chain head's CHECK (id = 1), which it plans
-- again for every update of the head. SQLite compiles the CHECK into the
-- prepared statement once, so it stays; this keeps both dialects' versions
-- in step.
SELECT 1;
