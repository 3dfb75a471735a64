package main

// Operations wiring: logs, probes, metrics, traces and the key directory
// watch of `legant gateway` (docs/OPERATIONS.md).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/cmd/legant/internal/ops"
	"github.com/openlegant/legant/issuer/keydir"
	"github.com/openlegant/legant/issuer/store"
)

// opsFlags are the operations flags of `legant gateway`.
type opsFlags struct {
	logFormat, logLevel string
	metricsOnMain       bool // also serve /metrics on the gateway listener
}

func (f *opsFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&f.metricsOnMain, "metrics-on-main", false, "also serve /metrics on --listen (default: the admin listener only)")
}

// logger returns the slog.Logger the flags ask for, writing to out.
func (f *opsFlags) logger(out io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	ho := &slog.HandlerOptions{Level: level, ReplaceAttr: redact}
	switch f.logFormat {
	case "text", "":
		return slog.New(slog.NewTextHandler(out, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, ho)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", f.logFormat)
}

// redact blanks attributes whose key names a credential or tool arguments:
// a defence in depth, since no code path is meant to log one.
func redact(_ []string, a slog.Attr) slog.Attr {
	switch k := strings.ToLower(a.Key); {
	case k == "token", k == "authorization", k == "args", k == "arguments", k == "password",
		strings.HasSuffix(k, "_token"), strings.Contains(k, "secret"):
		return slog.String(a.Key, "[redacted]")
	}
	return a
}

// auditHighWater is the share of the audit queue above which the gateway
// reports not ready (it still serves: enqueue applies back-pressure).
const auditHighWater = 0.8

// newOps builds the metrics and tracer of w (before its gateway exists).
func newOps(ctx context.Context, cfg serveConfig, w *wiring) (*ops.Ops, error) {
	revs := w.st.Revocations()
	return ops.New(ctx, ops.Options{
		Registry: w.watcher.Current,
		Revocations: func() (int, bool, time.Duration) {
			live, stale := revs.Freshness(time.Now())
			return revs.Len(), live, stale
		},
		AuditWrites: func() (int64, int64) {
			aw := w.st.Audit().Writes()
			return aw.Commits, aw.Events
		},
		Logger:         cfg.logger,
		ServiceVersion: versionString(),
	})
}

// readiness is what /readyz checks.
func (w *wiring) readiness() http.Handler {
	return w.ops.Readyz(
		ops.Check{Name: "store", Problem: "the database does not answer", Run: func(ctx context.Context) error {
			if !w.gw.Stats().StoreHealthy {
				return errors.New("the gateway marked the store unavailable: tools/call is refused")
			}
			return w.st.Ping(ctx)
		}},
		ops.Check{Name: "keys", Problem: "no signing key loaded", Run: func(context.Context) error {
			_, err := w.keys.Signer()
			return err
		}},
		ops.Check{Name: "registry", Problem: "no upstream registry loaded", Run: func(context.Context) error {
			if w.watcher.Current() == nil {
				return errors.New("no registry")
			}
			return nil
		}},
		ops.Check{Name: "audit", Problem: "the audit queue is above its high-water mark or the audit log refuses writes",
			Run: func(context.Context) error {
				s := w.gw.Stats()
				if !s.AuditHealthy {
					return errors.New("the last audit append failed")
				}
				if s.AuditQueueSize > 0 && float64(s.AuditQueue) > auditHighWater*float64(s.AuditQueueSize) {
					return fmt.Errorf("audit queue at %d of %d", s.AuditQueue, s.AuditQueueSize)
				}
				return nil
			}},
		ops.Check{Name: "revocations", Problem: "the revocation set is not being kept current", Run: func(context.Context) error {
			if live, stale := w.st.Revocations().Freshness(time.Now()); !live {
				return fmt.Errorf("revocation subscription down for %s", stale.Round(time.Second))
			}
			return nil
		}},
	)
}

// opsRoutes adds the probes (and, when asked, /metrics) to mux.
func (w *wiring) opsRoutes(mux *http.ServeMux, metrics bool) {
	mux.Handle("GET /healthz", ops.Healthz())
	mux.Handle("GET /readyz", w.readiness())
	if metrics {
		mux.Handle("GET /metrics", w.ops.MetricsHandler())
	}
}

// adminHandler serves the probes and /metrics beside the admin API (which
// keeps its bearer token; the probes and metrics need none).
func (w *wiring) adminHandler(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	w.opsRoutes(mux, true)
	mux.Handle("/", api)
	return mux
}

// watchKeys follows the issuer key directory until ctx ends: a rotation
// (`legant keys rotate`) is verified and published within a second, and each
// rotation and retirement is recorded in the audit log.
func watchKeys(ctx context.Context, dir string, w *wiring, log *slog.Logger) {
	keydir.Watch(ctx, dir, w.keys, keydir.WatchOptions{OnChange: func(c keydir.Change) {
		if c.Err != nil {
			w.ops.KeyChange("error", 1)
			log.Error("key directory unreadable; keeping the keys loaded", "dir", dir, "err", c.Err)
			return
		}
		w.ops.KeyChange("added", len(c.Added))
		w.ops.KeyChange("retired", len(c.Retired))
		for _, e := range c.Added {
			log.Info("signing key added", "kid", e.KID, "alg", e.Alg, "current", e.Current)
			recordKeyEvent(w.st, log, "rotate", fmt.Sprintf("key directory %s: new %s key %s (current: %t)", dir, e.Alg, e.KID, e.Current))
		}
		for _, e := range c.Retired {
			log.Info("signing key retired", "kid", e.KID)
			recordKeyEvent(w.st, log, "retire", fmt.Sprintf("key directory %s: key %s retired", dir, e.KID))
		}
	}})
}

func recordKeyEvent(st *store.Store, log *slog.Logger, decision, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.Audit().Append(ctx, audit.Event{Kind: audit.KindKeyRotation, Decision: decision, Reason: reason}); err != nil {
		log.Error("key change not recorded in the audit log", "err", err)
	}
}

// requireKeySecret refuses a store that cannot sign the revocation feed and
// audit anchors: without a key-encryption secret on PostgreSQL,
// /.well-known/revoked would answer 503 while the gateway looked healthy.
func requireKeySecret(ctx context.Context, st *store.Store) error {
	if _, err := st.KeySet(ctx); errors.Is(err, store.ErrNoKeySecret) {
		return fmt.Errorf("%w: the store cannot sign the revocation feed or audit anchors; "+
			"pass --key-secret-file or set %s (the same secret on every replica)", err, envKeySecret)
	} else if err != nil {
		return err
	}
	return nil
}
