package keydir_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/openlegant/legant/issuer/keydir"
)

// TestWatchFollowsRotateAndPrune runs Watch on a real directory while
// another caller rotates and prunes it, as `legant keys` would.
func TestWatchFollowsRotateAndPrune(t *testing.T) {
	dir := t.TempDir()
	first, err := keydir.Init(dir, keydir.Ed25519, nil)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keydir.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var changes []keydir.Change
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		keydir.Watch(ctx, dir, ks, keydir.WatchOptions{Interval: 10 * time.Millisecond, OnChange: func(c keydir.Change) {
			mu.Lock()
			changes = append(changes, c)
			mu.Unlock()
		}})
	}()
	defer func() { cancel(); <-done }()

	second, err := keydir.Rotate(dir, keydir.Ed25519, &keydir.Options{RetireAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { k, err := ks.Signer(); return err == nil && k.ID() == second.KID })
	if _, ok := ks.Lookup(first.KID, time.Now()); !ok {
		t.Errorf("the rotated-out key %s no longer verifies before its retire time", first.KID)
	}
	if _, ok := ks.Lookup(first.KID, time.Now().Add(2*time.Hour)); ok {
		t.Errorf("the rotated-out key %s verifies after its retire time", first.KID)
	}
	pruned, err := keydir.Prune(dir, &keydir.Options{Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if err != nil || len(pruned) != 1 || pruned[0].KID != first.KID {
		t.Fatalf("Prune = %v, %v; want [%s]", pruned, err, first.KID)
	}
	waitFor(t, func() bool { _, ok := ks.Lookup(first.KID, time.Now()); return !ok })
	mu.Lock()
	defer mu.Unlock()
	var added, retired []string
	for _, c := range changes {
		if c.Err != nil {
			t.Errorf("watch error: %v", c.Err)
		}
		for _, e := range c.Added {
			added = append(added, e.KID)
		}
		for _, e := range c.Retired {
			retired = append(retired, e.KID)
		}
	}
	if len(added) != 1 || added[0] != second.KID || len(retired) != 1 || retired[0] != first.KID {
		t.Errorf("changes: added %v retired %v; want added [%s] retired [%s]", added, retired, second.KID, first.KID)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
