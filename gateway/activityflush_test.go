package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/gateway"
)

// batchingSessions is a session store that records activity in batches
// (gateway.ActivityBatcher) and fails its first batch.
type batchingSessions struct {
	memSessions
	mu       sync.Mutex
	batches  int
	denied   map[string]int64
	unknown  map[string]bool // ids reported as not found
	failNext bool
}

func (s *batchingSessions) TouchSessions(_ context.Context, acts map[string]gateway.Activity) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	if s.failNext {
		s.failNext = false
		return nil, errors.New("store down")
	}
	var notFound []string
	for id, a := range acts {
		if s.unknown[id] {
			notFound = append(notFound, id)
			continue
		}
		s.denied[id] += a.Denied
	}
	return notFound, nil
}

func (s *batchingSessions) deniedOf(id string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.denied[id]
}

// TestActivityFlushedInBatches: a store that batches activity gets every
// session's in one call per flush, and what a failed flush took is restored
// and recorded by a later one: nothing counted twice, nothing lost.
func TestActivityFlushedInBatches(t *testing.T) {
	st := &batchingSessions{memSessions: memSessions{m: map[string]gateway.SessionRecord{}},
		denied: map[string]int64{}, unknown: map[string]bool{}, failNext: true}
	srv := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
	r := newRig(t, rigOptions{gwOpts: func(o *gateway.Options) { o.Sessions = st },
		handler: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)})
	tok := r.token(tokenOptions{})
	var ids []string
	for range 2 {
		h := rawSession(t, r, tok)
		ids = append(ids, h["Mcp-Session-Id"])
		for i := range 3 { // a tool the token may not call: denied, counted on the session
			body := `{"jsonrpc":"2.0","id":` + string(rune('1'+i)) + `,"method":"tools/call","params":{"name":"not_granted","arguments":{}}}`
			if got := rawPost(t, r.endpoint(), tok, h, body); got.status != http.StatusOK {
				t.Fatalf("denied call: %d %s", got.status, got.body)
			}
		}
	}
	eventually(t, "both sessions' 3 denials recorded after the failed flush", func() bool {
		return st.deniedOf(ids[0]) == 3 && st.deniedOf(ids[1]) == 3
	})
	st.mu.Lock()
	batches := st.batches
	st.mu.Unlock()
	if batches < 2 {
		t.Fatalf("%d batches, want ≥ 2 (the failed one, then the one that recorded)", batches)
	}
	for _, id := range ids {
		if got := st.deniedOf(id); got != 3 {
			t.Errorf("session %s: %d denials recorded, want 3", id, got)
		}
	}
}
