package store

import (
	"context"
	"sync/atomic"
	"time"
)

// ProofCache is the store's DPoP replay cache (it implements
// dpop.ReplayCache): every replica sharing the store sees every proof any of
// them accepted, so a proof replayed on another replica is refused. One
// INSERT per DPoP-bound request; expired rows are pruned every
// proofPruneEvery accepted proofs. Safe for concurrent use.
type ProofCache struct {
	s        *Store
	accepted atomic.Int64
}

// proofPruneEvery is how many accepted proofs pass between two prunes.
const proofPruneEvery = 1024

// ProofCache returns the store's DPoP replay cache.
func (s *Store) ProofCache() *ProofCache { return &ProofCache{s: s} }

// Remember records jti until the given time and reports whether it was
// fresh: false when another request (on any replica) presented it before
// and it has not expired.
func (c *ProofCache) Remember(ctx context.Context, jti string, until time.Time) (bool, error) {
	now := c.s.now().UnixNano()
	res, err := c.s.db.ExecContext(ctx, `INSERT INTO dpop_proofs (jti, until_ns) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET until_ns = excluded.until_ns WHERE dpop_proofs.until_ns < $3`,
		jti, until.UnixNano(), now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if n == 1 && c.accepted.Add(1)%proofPruneEvery == 0 {
		c.s.db.ExecContext(ctx, `DELETE FROM dpop_proofs WHERE until_ns < $1`, now)
	}
	return n == 1, nil
}
