package dpop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// ReplayCache remembers the jti of every proof it accepted until the proof
// expires. Remember reports fresh=false for a jti seen before (a replay).
// The store implements it for replicas that must share it; MemoryReplayCache
// serves one process.
type ReplayCache interface {
	Remember(ctx context.Context, jti string, until time.Time) (fresh bool, err error)
}

// MemoryReplayCache is a ReplayCache of one process, bounded: when it holds
// Max entries it drops the expired ones, and refuses (reports not fresh)
// while none has expired — fail closed rather than forget. Safe for
// concurrent use.
type MemoryReplayCache struct {
	Max int // zero means 100,000
	Now func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time
}

var _ ReplayCache = (*MemoryReplayCache)(nil)

// Remember implements ReplayCache.
func (m *MemoryReplayCache) Remember(_ context.Context, jti string, until time.Time) (bool, error) {
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	max := m.Max
	if max <= 0 {
		max = 100_000
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]time.Time{}
	}
	if exp, ok := m.seen[jti]; ok && now.Before(exp) {
		return false, nil
	}
	if len(m.seen) >= max {
		for k, exp := range m.seen {
			if !now.Before(exp) {
				delete(m.seen, k)
			}
		}
		if len(m.seen) >= max {
			return false, nil
		}
	}
	m.seen[jti] = until
	return true, nil
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
