package admin

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/openlegant/legant/authority/audit"
)

// auditPage is the Audit view.
type auditPage struct {
	Head       audit.Checkpoint
	PruneStart audit.Checkpoint // the signed prune record verification starts from (seq 0: none)
	Verify     *verifyResult    // after "verify now"
	Anchor     *anchorResult    // after "sign an anchor"
}

type verifyResult struct {
	OK                  bool
	Events, FirstBad    int64
	Problem             string
	Head                audit.Checkpoint
	Took                time.Duration
	PrunedThrough, From int64
}

type anchorResult struct {
	Token string
	Seq   int64
	Hash  string
	Time  time.Time
}

func (c *console) auditPage(w http.ResponseWriter, r *http.Request, s consoleSession, ap auditPage, notice string) {
	p := c.pageFor(s, "Audit", "audit")
	p.Notice = notice
	l := c.s.opts.Store.Audit()
	var err error
	if ap.Head, err = l.Head(r.Context()); err == nil {
		ap.PruneStart, err = l.PruneStart(r.Context())
	}
	if err != nil {
		var ce *audit.ChainError
		if !errors.As(err, &ce) {
			c.unavailable(w, s, p, err)
			return
		}
		p.Error = "The prune record does not verify: " + ce.Reason
	}
	p.Data = ap
	c.render(w, http.StatusOK, "audit", p)
}

// serveAudit shows the chain head and where verification starts.
func (c *console) serveAudit(w http.ResponseWriter, r *http.Request, s consoleSession) {
	c.auditPage(w, r, s, auditPage{}, "")
}

// serveVerify verifies the whole chain now (store.AuditLog.Verify) and shows
// the report.
func (c *console) serveVerify(w http.ResponseWriter, r *http.Request, s consoleSession) {
	start := time.Now()
	rep, err := c.s.opts.Store.Audit().Verify(r.Context(), nil)
	var ce *audit.ChainError
	if err != nil && !errors.As(err, &ce) {
		p := c.pageFor(s, "Audit", "audit")
		c.unavailable(w, s, p, err)
		return
	}
	vr := &verifyResult{OK: rep.OK(), Events: rep.Events, FirstBad: rep.FirstBad, Problem: rep.Problem,
		Head: rep.Head, Took: time.Since(start).Round(10 * time.Microsecond), PrunedThrough: rep.PrunedThrough}
	c.s.log.Info("console: audit verified", "actor", s.Actor, "ok", vr.OK, "events", vr.Events, "first_bad", vr.FirstBad)
	c.auditPage(w, r, s, auditPage{Verify: vr}, "")
}

// serveAnchor signs the current head (store.AuditLog.Anchor) and shows the
// anchor to keep outside the database.
func (c *console) serveAnchor(w http.ResponseWriter, r *http.Request, s consoleSession) {
	tok, a, err := c.s.opts.Store.Audit().Anchor(r.Context())
	if err != nil {
		c.s.log.Error("console: sign anchor", "err", err)
		c.auditPage(w, r, s, auditPage{}, "The anchor could not be signed; see the server log.")
		return
	}
	c.auditPage(w, r, s, auditPage{Anchor: &anchorResult{Token: tok, Seq: a.Seq, Hash: a.Hash, Time: a.Time}}, "")
}

// serveExport answers the events from= … to= (inclusive sequence numbers;
// to=0 means the head) as JSON lines, raw arguments included when the log
// keeps them, for download.
func (c *console) serveExport(w http.ResponseWriter, r *http.Request, s consoleSession) {
	q := r.URL.Query()
	from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
	to, err2 := strconv.ParseInt(cmp.Or(q.Get("to"), "0"), 10, 64)
	if err1 != nil || err2 != nil || from < 1 || to < 0 || (to != 0 && to < from) {
		http.Error(w, "from and to must be sequence numbers, from ≥ 1 and to ≥ from (to = 0: the head)", http.StatusBadRequest)
		return
	}
	l := c.s.opts.Store.Audit()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="legant-audit-%d-%d.jsonl"`, from, to))
	enc := json.NewEncoder(w)
	n, after := 0, from-1
	for {
		evs, err := l.After(r.Context(), after, followBatch)
		if err != nil {
			// The status is sent already: the download ends short, and the
			// missing lines are told by the sequence numbers.
			c.s.log.Error("console: export", "err", err)
			return
		}
		for _, e := range evs {
			if to != 0 && e.Seq > to {
				c.s.log.Info("console: audit exported", "actor", s.Actor, "from", from, "to", to, "events", n)
				return
			}
			enc.Encode(e)
			n++
			after = e.Seq
		}
		if len(evs) < followBatch {
			c.s.log.Info("console: audit exported", "actor", s.Actor, "from", from, "to", to, "events", n)
			return
		}
	}
}
