package admin

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/issuer/store"
)

// SelectorFor turns a revocation into the kill of what it covers.
func SelectorFor(r store.Revocation) gateway.Selector {
	switch r.Kind {
	case revfeed.KindToken:
		return gateway.Selector{TokenID: r.Value}
	case revfeed.KindDelegation:
		return gateway.Selector{DelegationID: r.Value}
	case revfeed.KindAgent:
		return gateway.Selector{Agent: r.Value}
	case revfeed.KindUser:
		return gateway.Selector{User: r.Value}
	}
	return gateway.Selector{}
}

// Recorder writes gateway events to the hash-chained audit log, in
// order, durable when Record returns. A failed batch is retried whole by the
// gateway: an event may then be recorded twice, never lost.
type Recorder struct{ Log *store.AuditLog }

func (a Recorder) Record(ctx context.Context, evs []gateway.Event) error {
	out := make([]audit.Event, len(evs))
	for i, e := range evs {
		out[i] = toAudit(e)
	}
	return a.Log.AppendAll(ctx, out)
}

// toAudit converts an event. Text is made valid UTF-8 without NULs so that an
// odd value can never make the log refuse an event (which would stall it and
// close the gateway).
func toAudit(e gateway.Event) audit.Event {
	agents := make([]string, len(e.Agents))
	for i, a := range e.Agents {
		agents[i] = text(a)
	}
	return audit.Event{Time: e.Time, Kind: audit.Kind(e.Kind), User: text(e.User), Agents: agents,
		Client: text(e.Client), Upstream: text(e.Upstream), Method: text(e.Method), Tool: text(e.Tool),
		Decision: e.Decision, Reason: text(e.Reason), Constraint: e.Constraint, Limit: text(e.Limit),
		Value: text(e.Value), TokenID: text(e.TokenID), SessionID: e.SessionID, ArgsHash: e.ArgsHash}
}

func text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\ufffd"), "\x00", "\ufffd")
}

// Sessions adapts the store to the gateway's SessionStore.
type Sessions struct{ Store *store.Store }

var (
	_ gateway.SessionStore = Sessions{}
	_ gateway.Recorder     = Recorder{}
)

func (s Sessions) SaveSession(ctx context.Context, r gateway.SessionRecord) error {
	return s.Store.CreateSession(ctx, store.Session{ID: r.ID, User: r.User, Agents: r.Agents, Client: r.Client,
		Upstream: r.Upstream, ProtocolVersion: r.ProtocolVersion, UpstreamSessionID: r.UpstreamID,
		TokenID: r.TokenID, Started: r.Started, LastActivity: r.Started, State: store.SessionLive})
}

func (s Sessions) LoadSession(ctx context.Context, id string) (*gateway.SessionRecord, error) {
	se, err := s.Store.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gateway.ErrSessionNotFound
	}
	if err != nil {
		return nil, err
	}
	return &gateway.SessionRecord{ID: se.ID, Upstream: se.Upstream, UpstreamID: se.UpstreamSessionID,
		User: se.User, Agents: se.Agents, Client: se.Client, ProtocolVersion: se.ProtocolVersion,
		TokenID: se.TokenID, Started: se.Started, Killed: se.State != store.SessionLive}, nil
}

func (s Sessions) EndSession(ctx context.Context, id string, killed bool, reason string) error {
	if killed {
		_, err := s.Store.MarkKilled(ctx, id, reason, time.Now())
		return err
	}
	_, err := s.Store.CloseSession(ctx, id, reason, time.Now())
	return err
}

func (s Sessions) TouchSession(ctx context.Context, id string, a gateway.Activity) error {
	return s.Store.TouchSession(ctx, id, store.SessionActivity{At: a.At, Allowed: a.Allowed, Denied: a.Denied, Spent: a.Spent})
}
