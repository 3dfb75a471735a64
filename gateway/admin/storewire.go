package admin

import (
	"context"
	"errors"
	"time"

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

// Sessions adapts the store to the gateway's SessionStore.
type Sessions struct{ Store *store.Store }

var (
	_ gateway.SessionStore = Sessions{}
	_ gateway.Recorder     = (*store.AuditLog)(nil)
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
		TokenID: se.TokenID, Started: se.Started, Killed: se.State != store.SessionLive, End: endOf(se)}, nil
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

var _ gateway.ActivityBatcher = Sessions{}

// TouchSessions implements gateway.ActivityBatcher: one transaction for a
// flush of every session's activity.
func (s Sessions) TouchSessions(ctx context.Context, acts map[string]gateway.Activity) ([]string, error) {
	in := make(map[string]store.SessionActivity, len(acts))
	for id, a := range acts {
		in[id] = store.SessionActivity{At: a.At, Allowed: a.Allowed, Denied: a.Denied, Spent: a.Spent}
	}
	return s.Store.TouchSessions(ctx, in)
}

// endOf says how a stored session ended, in the gateway's words.
func endOf(se *store.Session) string {
	switch {
	case se.State == store.SessionLive:
		return ""
	case se.State == store.SessionKilled:
		return gateway.EndKilled
	case se.EndReason == "closed by client": // written before the End* reasons
		return gateway.EndClosed
	}
	return se.EndReason
}
