package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestProofCache: a jti is fresh once, across two Store instances on the
// same database (two replicas), even under concurrent presentation; after
// its time it may be used again.
func TestProofCache(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		opts := b.Options(t)
		a := storetest.Open(t, opts)
		other := a
		if b.Postgres() {
			other = storetest.Open(t, opts) // a second replica: its own pool
		}
		until := time.Now().Add(time.Minute)
		if fresh, err := a.ProofCache().Remember(ctx, "jti-1", until); err != nil || !fresh {
			t.Fatalf("first use: fresh %v, err %v", fresh, err)
		}
		if fresh, err := other.ProofCache().Remember(ctx, "jti-1", until); err != nil || fresh {
			t.Fatalf("replay on another replica: fresh %v, err %v", fresh, err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		freshCount := 0
		for i := range 16 {
			wg.Go(func() {
				st := a
				if i%2 == 1 {
					st = other
				}
				fresh, err := st.ProofCache().Remember(ctx, "jti-race", until)
				if err != nil {
					t.Error(err)
				}
				if fresh {
					mu.Lock()
					freshCount++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if freshCount != 1 {
			t.Fatalf("16 concurrent presentations of one proof: %d accepted, want 1", freshCount)
		}
		past := time.Now().Add(-time.Second)
		if fresh, _ := a.ProofCache().Remember(ctx, "jti-old", past); !fresh {
			t.Fatal("jti-old first use")
		}
		if fresh, err := other.ProofCache().Remember(ctx, "jti-old", until); err != nil || !fresh {
			t.Fatalf("an expired entry must not block: fresh %v, err %v", fresh, err)
		}
	})
}
