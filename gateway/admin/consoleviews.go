package admin

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/store"
)

// serveDecisions is the live decision stream; the rows arrive over SSE
// (console.js), filters and pause act in the page.
func (c *console) serveDecisions(w http.ResponseWriter, r *http.Request, s consoleSession) {
	c.render(w, http.StatusOK, "decisions", c.pageFor(s, "Decisions", "decisions"))
}

// eventPage is one audit record and its place in the chain.
type eventPage struct {
	Event      audit.Event
	Head       audit.Checkpoint
	Prev, Next int64 // neighbours' seq (0: none)
}

// serveEvent shows one audit record: every field, its hashes, and where it
// sits in the chain (its predecessor's hash is its prev_hash).
func (c *console) serveEvent(w http.ResponseWriter, r *http.Request, s consoleSession) {
	p := c.pageFor(s, "Audit record", "decisions")
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		p.Error = "No such audit record."
		c.render(w, http.StatusNotFound, "event", p)
		return
	}
	l := c.s.opts.Store.Audit()
	e, err := l.Event(r.Context(), seq)
	if errors.Is(err, store.ErrNotFound) {
		p.Error = "No such audit record (never written, or pruned by retention)."
		c.render(w, http.StatusNotFound, "event", p)
		return
	}
	var head audit.Checkpoint
	if err == nil {
		head, err = l.Head(r.Context())
	}
	if err != nil {
		c.unavailable(w, s, p, err)
		return
	}
	ep := eventPage{Event: eventView(*e), Head: head}
	if seq > 1 {
		ep.Prev = seq - 1
	}
	if seq < head.Seq {
		ep.Next = seq + 1
	}
	p.Title = "Audit record #" + strconv.FormatInt(seq, 10)
	p.Data = ep
	c.render(w, http.StatusOK, "event", p)
}

func (c *console) unavailable(w http.ResponseWriter, _ consoleSession, p page, err error) {
	c.s.log.Error("console: store unavailable", "err", err)
	p.Error = "The store is unavailable; see the server log."
	p.Data = nil
	c.render(w, http.StatusServiceUnavailable, "event", p)
}

// sessionsPage is the Sessions view.
type sessionsPage struct {
	Sessions []Session
	State    string
}

func (c *console) listSessions(r *http.Request) (sessionsPage, error) {
	state := r.URL.Query().Get("state")
	switch store.SessionState(state) {
	case store.SessionLive, store.SessionKilled, store.SessionClosed:
	case "":
		state = string(store.SessionLive)
	default:
		state = string(store.SessionLive)
	}
	c.s.flushLocal(r.Context())
	list, err := c.s.opts.Store.ListSessions(r.Context(), store.SessionFilter{State: store.SessionState(state), Limit: DefaultListLimit})
	if err != nil {
		return sessionsPage{}, err
	}
	sp := sessionsPage{State: state, Sessions: make([]Session, len(list))}
	for i := range list {
		sp.Sessions[i] = sessionOf(&list[i])
	}
	return sp, nil
}

// serveSessions lists every replica's sessions (the store's), live ones by
// default, each with a Kill form that asks for a reason.
func (c *console) serveSessions(w http.ResponseWriter, r *http.Request, s consoleSession) {
	p := c.pageFor(s, "Sessions", "sessions")
	p.Notice = r.URL.Query().Get("notice")
	sp, err := c.listSessions(r)
	if err != nil {
		c.unavailable(w, s, p, err)
		return
	}
	p.Data = sp
	c.render(w, http.StatusOK, "sessions", p)
}

// serveSessionRows answers the table body alone, for console.js to refresh
// the table in place.
func (c *console) serveSessionRows(w http.ResponseWriter, r *http.Request, s consoleSession) {
	sp, err := c.listSessions(r)
	if err != nil {
		c.s.log.Error("console: store unavailable", "err", err)
		http.Error(w, "the store is unavailable", http.StatusServiceUnavailable)
		return
	}
	p := c.pageFor(s, "", "")
	p.Data = sp
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := c.pages["sessions"].ExecuteTemplate(w, "rows", p); err != nil {
		c.s.log.Error("console: render rows", "err", err)
	}
}

// serveKill kills through Server.Kill, the admin API's kill path, with the
// console user as the actor; the form names one selector kind and value.
func (c *console) serveKill(w http.ResponseWriter, r *http.Request, s consoleSession) {
	f := r.PostForm
	req := KillRequest{Reason: strings.TrimSpace(f.Get("reason")), Actor: "console:" + s.Actor}
	switch v := f.Get("value"); f.Get("kind") {
	case "session":
		req.Session = v
	case "jti":
		req.TokenID = v
	case "delegation":
		req.Delegation = v
	case "agent":
		req.Agent = v
	case "user":
		req.User = v
	}
	back := f.Get("back")
	if back != "/console/graph" {
		back = "/console/sessions"
	}
	res, err := c.s.Kill(r.Context(), req)
	var e *Error
	var notice string
	switch {
	case errors.As(err, &e):
		notice = "Not killed: " + e.Description
	case err != nil:
		notice = "Not killed: the kill failed; see the server log."
	case len(res.Incomplete) > 0:
		notice = "Killed " + res.Selector + ", but incomplete: " + strings.Join(res.Incomplete, "; ")
	default:
		notice = "Killed " + res.Selector + ": " + strconv.Itoa(len(res.Sessions)) + " session(s) ended, " +
			strconv.Itoa(len(res.Revocations)) + " revocation(s) recorded."
	}
	http.Redirect(w, r, back+"?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}
