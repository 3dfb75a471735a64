-- A delegation's spending counts against every ancestor (policy.Ledger). The
-- ledger records, the first time a token of a delegation reserves a call, its
-- parent and its own limits: those limits apply when a descendant's call is
-- charged to it; until then the descendant token's limits apply.
ALTER TABLE ledger ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger ADD COLUMN limits_known INTEGER NOT NULL DEFAULT 0; -- 1 once recorded
ALTER TABLE ledger ADD COLUMN budget_limit TEXT;                      -- canonical decimal; NULL = no budget
ALTER TABLE ledger ADD COLUMN max_calls_limit INTEGER;                -- NULL = no call limit
