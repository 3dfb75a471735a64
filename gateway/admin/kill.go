package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/issuer/store"
)

// maxKillBody bounds the body of POST /v1/kill.
const maxKillBody = 64 << 10

// killTimeout bounds the work of one kill; it goes on if the admin client
// goes away (a kill is never left half-done because a caller hung up).
const killTimeout = 30 * time.Second

// target is what a kill covers, resolved from its selector.
type target struct {
	sessions []string             // sessions of the store to mark killed
	revoke   *store.RevokeRequest // nil: nothing known to revoke
	sel      gateway.Selector     // for this replica's gateway
	ev       audit.Event          // subject fields of the kill event
	problem  string               // what could not be resolved ("" if all was)
	unknown  bool                 // a session the store does not have
}

// Kill kills what req names, everywhere, in this order:
//
//  1. the store: the sessions it covers are marked killed and what it names
//     is revoked (a session: the jti of the token that opened it), which
//     every replica learns at once (PostgreSQL LISTEN/NOTIFY; in process
//     for SQLite) and answers by killing what the revocation covers;
//  2. this replica's gateway kills at once, without waiting for the
//     notification: in-flight calls cut with the killed error, streams
//     closed, upstream sessions ended; sessions it stopped that the store
//     did not name (a delegation's) are marked killed too;
//  3. the audit log records a kill event naming who asked and why.
//
// A store failure does not stop the kill: the steps that can run do, and
// the result lists what is missing in Incomplete. A request that names
// nothing valid is an *Error with status 400; a session unknown to the store
// and to this replica, an *Error with status 404.
func (s *Server) Kill(ctx context.Context, req KillRequest) (*KillResult, error) {
	kind, value, err := req.selector()
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killTimeout)
	defer cancel()
	res := &KillResult{Selector: kind + "=" + value, Sessions: []string{}, Revocations: []Revocation{}}
	t := s.resolve(ctx, kind, value)
	if t.problem != "" {
		res.Incomplete = append(res.Incomplete, t.problem)
	}
	s.markKilled(ctx, res, t.sessions, req.Reason)
	revoked := s.revoke(ctx, res, t.revoke, req.Reason)
	if s.opts.Gateway != nil {
		rep := s.opts.Gateway.Kill(ctx, t.sel, req.Reason)
		res.Local = &LocalKill{Sessions: nonNil(rep.Sessions), Calls: rep.Calls}
		s.markKilled(ctx, res, rep.Sessions, req.Reason)
		if !revoked {
			s.hold(res, t, rep.Sessions, req.Reason)
		}
	}
	if t.unknown {
		if res.Local == nil || len(res.Local.Sessions) == 0 {
			return nil, &Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such session"}
		}
		res.Incomplete = append(res.Incomplete, "the store has no record of the session: its token was not revoked (kill its jti)")
	}
	s.auditKill(ctx, res, t.ev, kind, value, req)
	s.log.Info("admin API: kill", "selector", res.Selector, "actor", req.Actor, "reason", req.Reason,
		"sessions", len(res.Sessions), "revocations", len(res.Revocations), "incomplete", len(res.Incomplete))
	return res, nil
}

// resolve finds what a selector covers in the store.
func (s *Server) resolve(ctx context.Context, kind, value string) target {
	var t target
	var f store.SessionFilter
	switch kind {
	case "session":
		return s.resolveSession(ctx, value)
	case "jti":
		t.revoke = &store.RevokeRequest{Kind: revfeed.KindToken, Value: value}
		t.sel, t.ev.TokenID, f.TokenID = gateway.Selector{TokenID: value}, value, value
	case "delegation":
		// The store does not index sessions by delegation: this replica's
		// gateway finds its own, and every replica kills on the revocation.
		t.revoke = &store.RevokeRequest{Kind: revfeed.KindDelegation, Value: value}
		t.sel = gateway.Selector{DelegationID: value}
		return t
	case "agent":
		t.revoke = &store.RevokeRequest{Kind: revfeed.KindAgent, Value: value}
		t.sel, t.ev.Agents, f.Agent = gateway.Selector{Agent: value}, []string{value}, value
	case "user":
		t.revoke = &store.RevokeRequest{Kind: revfeed.KindUser, Value: value}
		t.sel, t.ev.User, f.User = gateway.Selector{User: value}, value, value
	}
	f.State = store.SessionLive
	list, err := s.opts.Store.ListSessions(ctx, f)
	if err != nil {
		s.log.Error("admin API: kill: list sessions", "err", err)
		t.problem = "the store could not list the sessions to mark killed"
	}
	for _, se := range list {
		t.sessions = append(t.sessions, se.ID)
	}
	return t
}

func (s *Server) resolveSession(ctx context.Context, id string) target {
	t := target{sel: gateway.Selector{SessionID: id}, ev: audit.Event{SessionID: id}}
	se, err := s.opts.Store.GetSession(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// It may still run here (its record failed to save): the gateway
		// looks, but its token cannot be revoked without the record.
		t.unknown = true
		return t
	case err != nil:
		s.log.Error("admin API: kill: get session", "err", err)
		t.problem = "the store could not be read: the session's token was not revoked"
		return t
	}
	t.sessions = []string{se.ID}
	t.ev.User, t.ev.Agents, t.ev.Upstream, t.ev.Client = se.User, se.Agents, se.Upstream, se.Client
	if se.TokenID != "" {
		t.ev.TokenID = se.TokenID
		t.revoke = &store.RevokeRequest{Kind: revfeed.KindToken, Value: se.TokenID}
	}
	return t
}

// markKilled marks ids killed in the store, adding those it changed to res.
func (s *Server) markKilled(ctx context.Context, res *KillResult, ids []string, reason string) {
	at := s.opts.Now()
	for _, id := range ids {
		if slices.Contains(res.Sessions, id) {
			continue
		}
		changed, err := s.opts.Store.MarkKilled(ctx, id, reason, at)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			s.log.Error("admin API: kill: mark session killed", "session", id, "err", err)
			res.Incomplete = append(res.Incomplete, "the store could not mark session "+id+" killed")
		case changed:
			res.Sessions = append(res.Sessions, id)
		}
	}
}

// revoke records the revocation; it reaches every replica sharing the store.
// It reports false when the store could not take it.
func (s *Server) revoke(ctx context.Context, res *KillResult, req *store.RevokeRequest, reason string) bool {
	if req == nil {
		return true
	}
	req.Reason = reason
	revs, err := s.opts.Store.Revoke(ctx, *req)
	if err != nil {
		s.log.Error("admin API: kill: revoke", "err", err)
		res.Incomplete = append(res.Incomplete, "the store could not record the revocation: other replicas were not told")
		return false
	}
	for _, r := range revs {
		res.Revocations = append(res.Revocations, Revocation{Kind: string(r.Kind), Value: r.Value, Version: r.Version})
	}
	return true
}

// hold keeps the kill on this replica's gateway, in memory, until the store
// takes the revocation and the killed marks of the sessions this replica
// stopped: a kill answered here holds here whatever the store does.
func (s *Server) hold(res *KillResult, t target, sessions []string, reason string) {
	if t.revoke == nil {
		return
	}
	rev := *t.revoke
	s.opts.Gateway.HoldKill(t.sel, reason, func(ctx context.Context) error {
		if _, err := s.opts.Store.Revoke(ctx, rev); err != nil {
			return err
		}
		for _, id := range sessions {
			if _, err := s.opts.Store.MarkKilled(ctx, id, reason, s.opts.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	res.Incomplete = append(res.Incomplete, "held on this replica: its gateway refuses what the kill covers and writes the revocation when the store returns")
}

// auditKill records who killed what and why. The actor goes in the event's
// Client ("admin:<actor>"), the selector in Constraint (its kind) and Value.
func (s *Server) auditKill(ctx context.Context, res *KillResult, ev audit.Event, kind, value string, req KillRequest) {
	ev.Time, ev.Kind, ev.Method, ev.Decision, ev.Reason = s.opts.Now(), audit.KindKill, "admin/kill", "kill", req.Reason
	ev.Client = "admin"
	if req.Actor != "" {
		ev.Client = "admin:" + req.Actor
	}
	ev.Constraint, ev.Value = kind, value
	if err := s.opts.Store.Audit().Append(ctx, ev); err != nil {
		s.log.Error("admin API: kill: audit", "err", err)
		res.Incomplete = append(res.Incomplete, "the audit log could not record the kill")
	}
}

// serveKill answers POST /v1/kill.
func (s *Server) serveKill(w http.ResponseWriter, r *http.Request) {
	var req KillRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxKillBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body must be one JSON KillRequest object"})
		return
	}
	res, err := s.Kill(r.Context(), req)
	var e *Error
	switch {
	case errors.As(err, &e):
		writeError(w, e)
	case err != nil:
		writeError(w, &Error{Status: http.StatusInternalServerError, Code: "internal", Description: "the kill failed; see the server log"})
	case len(res.Incomplete) > 0:
		writeJSON(w, http.StatusServiceUnavailable, res)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
