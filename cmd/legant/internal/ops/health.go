package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Check is one condition of readiness. Run returns nil when it holds; its
// error goes to the log only, never to the prober.
type Check struct {
	Name string // e.g. "store"; names the check in the /readyz body
	// Problem is the text /readyz shows when the check fails.
	Problem string
	Run     func(ctx context.Context) error
}

// checkTimeout bounds one run of every check.
const checkTimeout = 2 * time.Second

// Healthz answers 200 while the process serves HTTP at all.
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// Readyz runs every check (concurrently, within checkTimeout) and answers
// 200 {"status":"ready"} or 503 {"status":"not_ready","failing":{name: problem}}.
func (o *Ops) Readyz(checks ...Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
		defer cancel()
		failing := map[string]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range checks {
			wg.Go(func() {
				if err := c.Run(ctx); err != nil {
					o.opts.Logger.Warn("not ready", "check", c.Name, "err", err)
					mu.Lock()
					failing[c.Name] = c.Problem
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(failing) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not_ready", "failing": failing})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
