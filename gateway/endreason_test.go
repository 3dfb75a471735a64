package gateway_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/gateway"
)

// memSessions is a SessionStore in memory that ends sessions as the store's
// adapter does (gateway/admin/storewire.go): killed, or closed with a reason.
type memSessions struct {
	mu sync.Mutex
	m  map[string]gateway.SessionRecord
}

func (s *memSessions) SaveSession(_ context.Context, r gateway.SessionRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[r.ID] = r
	return nil
}

func (s *memSessions) LoadSession(_ context.Context, id string) (*gateway.SessionRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id]
	if !ok {
		return nil, gateway.ErrSessionNotFound
	}
	return &r, nil
}

func (s *memSessions) EndSession(_ context.Context, id string, killed bool, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.m[id]
	if r.Killed {
		return nil
	}
	r.Killed, r.End = true, reason
	if killed {
		r.End = gateway.EndKilled
	}
	s.m[id] = r
	return nil
}

func (*memSessions) TouchSession(context.Context, string, gateway.Activity) error { return nil }

func (s *memSessions) end(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id].End
}

// TestSessionEndReasons: a session closed by its client, reaped idle, lost by
// its upstream (404 for its id) or ended by a drain is stored and audited
// with that reason, and a later request naming it is refused with
// session_<reason>, never killed_session.
func TestSessionEndReasons(t *testing.T) {
	for _, tc := range []struct {
		end  string
		idle string
		act  func(t *testing.T, r *rig, tok string, h map[string]string, gone *atomic.Bool)
	}{
		{gateway.EndClosed, "", func(t *testing.T, r *rig, tok string, h map[string]string, _ *atomic.Bool) {
			req, _ := http.NewRequest(http.MethodDelete, r.endpoint(), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Mcp-Session-Id", h["Mcp-Session-Id"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}},
		{gateway.EndIdle, "500ms", func(*testing.T, *rig, string, map[string]string, *atomic.Bool) {}},
		{gateway.EndUpstreamGone, "", func(t *testing.T, r *rig, tok string, h map[string]string, gone *atomic.Bool) {
			gone.Store(true) // the upstream restarted: it no longer knows the session
			if got := rawPost(t, r.endpoint(), tok, h, `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`); got.status != http.StatusNotFound {
				t.Fatalf("the upstream's 404 must reach the client: %d %s", got.status, got.body)
			}
			gone.Store(false)
		}},
		{gateway.EndDrain, "", func(t *testing.T, r *rig, _ string, _ map[string]string, _ *atomic.Bool) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := r.gw.Drain(ctx); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.end, func(t *testing.T) {
			store := &memSessions{m: map[string]gateway.SessionRecord{}}
			var gone atomic.Bool
			var srv *mcp.Server
			mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
			r := newRig(t, rigOptions{idle: tc.idle, gwOpts: func(o *gateway.Options) { o.Sessions = store },
				handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					if gone.Load() && req.Header.Get("Mcp-Session-Id") != "" {
						http.Error(w, "session not found", http.StatusNotFound)
						return
					}
					mcpHandler.ServeHTTP(w, req)
				})})
			srv = mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
			tok := r.token(tokenOptions{})
			h := rawSession(t, r, tok)
			id := h["Mcp-Session-Id"]
			tc.act(t, r, tok, h, &gone)
			eventually(t, "the end stored as "+tc.end, func() bool { return store.end(id) == tc.end })
			r.events.waitFor(t, func(e audit.Event) bool {
				return e.Kind == audit.KindSessionEnd && e.SessionID == id && e.Reason == tc.end
			})
			if tc.end == gateway.EndDrain {
				return // the drained gateway refuses everything with 503
			}
			if got := rawPost(t, r.endpoint(), tok, h, `{"jsonrpc":"2.0","id":8,"method":"ping"}`); got.status != http.StatusNotFound {
				t.Fatalf("a request on the ended session: %d %s, want 404", got.status, got.body)
			}
			ev := r.events.waitFor(t, func(e audit.Event) bool { return e.Kind == audit.KindEdge403 && e.SessionID == id })
			if ev.Reason != "session_"+tc.end {
				t.Fatalf("edge_403 reason %q, want session_%s", ev.Reason, tc.end)
			}
		})
	}
}
