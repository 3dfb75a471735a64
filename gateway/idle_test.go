package gateway_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/gateway"
)

// endStore is a SessionStore that remembers why sessions ended.
type endStore struct {
	mu      sync.Mutex
	reasons map[string]string
}

func (*endStore) SaveSession(context.Context, gateway.SessionRecord) error { return nil }
func (*endStore) LoadSession(context.Context, string) (*gateway.SessionRecord, error) {
	return nil, gateway.ErrSessionNotFound
}
func (*endStore) TouchSession(context.Context, string, gateway.Activity) error { return nil }
func (s *endStore) EndSession(_ context.Context, id string, _ bool, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reasons[id] = reason
	return nil
}

func (s *endStore) count(reason string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.reasons {
		if r == reason {
			n++
		}
	}
	return n
}

func openFDs(t *testing.T) int {
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(des)
}

// eventually waits (polling, at most 30 s) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

// TestIdleSessionsReaped: 300 sessions whose clients hold a GET stream open
// and never send DELETE are ended after the registry's timeouts.idle: the
// upstream gets 300 DELETEs, the store records the ends with reason "idle",
// each end is audited, and the process's goroutines and descriptors return
// to within 10% of the baseline.
func TestIdleSessionsReaped(t *testing.T) {
	const n = 300
	store := &endStore{reasons: map[string]string{}}
	gwTransport := http.DefaultTransport.(*http.Transport).Clone()
	r := newRig(t, rigOptions{idle: "1s", gwOpts: func(o *gateway.Options) {
		o.Sessions = store
		o.Transport = gwTransport
	}})
	tok := r.token(tokenOptions{})
	clientTransport := http.DefaultTransport.(*http.Transport).Clone()
	client := &http.Client{Transport: clientTransport}

	runtime.GC()
	baseG, baseFD, baseHeap := runtime.NumGoroutine(), openFDs(t), heapInUse()
	var wg sync.WaitGroup
	ended := make(chan time.Time, n)
	start := time.Now()
	for range n {
		h := rawSession(t, r, tok)
		req, _ := http.NewRequest(http.MethodGet, r.endpoint(), nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET stream: %v %v", err, resp)
		}
		wg.Go(func() { // the abandoned client: it only waits for its stream to end
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
			ended <- time.Now()
		})
	}
	t.Logf("baseline: %d goroutines, %d fds; with %d open streams: %d goroutines, %d fds",
		baseG, baseFD, n, runtime.NumGoroutine(), openFDs(t))
	wg.Wait()
	close(ended)
	for at := range ended {
		if at.Sub(start) < time.Second {
			t.Fatalf("a stream ended after %v, before the idle timeout", at.Sub(start))
		}
	}
	eventually(t, "300 upstream DELETEs", func() bool { return r.deletes.Load() == n })
	eventually(t, "300 ends stored as idle", func() bool { return store.count("idle") == n })
	idleEnds := 0
	r.events.waitFor(t, func(e audit.Event) bool {
		if e.Kind == audit.KindSessionEnd && e.Reason == "idle" {
			idleEnds++
		}
		return idleEnds == n
	})
	// Idle keep-alive connections are the pools' (the test client's and the
	// gateway's transport), not sessions: close them before counting.
	clientTransport.CloseIdleConnections()
	gwTransport.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	var g, fd int
	eventually(t, "goroutines and descriptors back to the baseline", func() bool {
		g, fd = runtime.NumGoroutine(), openFDs(t)
		return float64(g) <= float64(baseG)*1.1 && float64(fd) <= float64(baseFD)*1.1
	})
	// Reported, not asserted: the heap after reaping also holds the pools'
	// reusable buffers (SSE reads, bufio of connections not yet collected)
	// and this test's own records, so it is not a per-session figure.
	heap := heapInUse()
	t.Logf("after reaping: %d goroutines (baseline %d), %d fds (baseline %d), heap in use %d KiB (baseline %d KiB)",
		g, baseG, fd, baseFD, heap>>10, baseHeap>>10)
	if slices.ContainsFunc(r.seenAuth.all(), func(a string) bool { return !strings.HasPrefix(a, "Bearer ") }) {
		t.Fatal("a reaping DELETE went upstream without the gateway's credential")
	}
}

// heapInUse is the heap in use after a collection: what live objects hold.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
