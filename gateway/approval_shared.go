package gateway

// Shared approvals: with Options.Approvals set (the store, under legant
// serve), approval requests live in the store so that every replica sees
// them — the retry of an approved call may reach any replica, and an
// approver's inbox on any replica is asked (inboxes poll the open requests,
// approvalPoll). This process keeps only a mirror of the requests it has
// seen, for the contexts of the elicitations asking about them.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
)

// approvalPoll is how often an inbox with open sessions reads the shared
// requests (asks about new ones, withdraws questions about decided ones).
const approvalPoll = time.Second

// ApprovalRecord is a four-eyes approval request as the ApprovalStore keeps
// it: the call (CallKey binds it to the token's jti, upstream, tool and
// argument hash), the requester's principal, who may approve, and where it
// stands.
type ApprovalRecord struct {
	ID, CallKey  string
	State        string // "pending", "granted" or "declined"
	Approver     string // who decided; "" while pending
	Expires      time.Time
	TokenID      string
	DelegationID string
	User         string
	Agents       []string
	Client       string
	SessionID    string
	Upstream     string
	Tool         string
	ArgsHash     string
	Args         []byte
	From         []string
}

// ApprovalStore shares approval requests between replicas (the store's
// approvals table). now is the gateway's clock.
type ApprovalStore interface {
	// TakeApproval returns the request of r.CallKey, using it up (deleting
	// it) when it was decided; when there is none it stores r as pending and
	// reports created — or fails with ErrTooManyApprovals when the token has
	// perToken requests already.
	TakeApproval(ctx context.Context, r ApprovalRecord, perToken int, now time.Time) (ApprovalRecord, bool, error)
	// DecideApproval decides pending request id; false when it is no longer
	// pending.
	DecideApproval(ctx context.Context, id, approver string, grant bool, now time.Time) (bool, error)
	// Approvals lists the requests that have not expired, in any state.
	Approvals(ctx context.Context, now time.Time) ([]ApprovalRecord, error)
	// DeleteApprovals deletes requests (cancelled).
	DeleteApprovals(ctx context.Context, ids ...string) error
}

// ErrTooManyApprovals is what an ApprovalStore answers when a token has as
// many open requests as it may.
var ErrTooManyApprovals = errors.New("too many open approval requests")

const (
	statePending  = "pending"
	stateGranted  = "granted"
	stateDeclined = "declined"
)

func (k approvalKey) hash() string {
	sum := sha256.Sum256([]byte(k.tokenID + "\x00" + k.slug + "\x00" + k.tool + "\x00" + k.argsHash))
	return hex.EncodeToString(sum[:])
}

// record is a as the store keeps it.
func (a *approvalRequest) record() ApprovalRecord {
	return ApprovalRecord{ID: a.id, CallKey: a.key.hash(), State: statePending, Expires: a.expires,
		TokenID: a.claims.ID, DelegationID: a.claims.DelegationID, User: a.claims.Subject, Agents: a.claims.Chain(),
		Client: a.claims.ClientID, SessionID: a.sessionID, Upstream: a.key.slug, Tool: a.key.tool,
		ArgsHash: a.key.argsHash, Args: a.args, From: a.rule.From}
}

func stateOf(s string) approvalState {
	switch s {
	case stateGranted:
		return approvalGranted
	case stateDeclined:
		return approvalDeclined
	}
	return approvalPending
}

// mirrorLocked returns this process's mirror of r, made on first sight.
func (s *approvals) mirrorLocked(r ApprovalRecord) *approvalRequest {
	a := s.byID[r.ID]
	if a == nil {
		ctx, cancel := context.WithCancel(s.root)
		c := &authority.Claims{Subject: r.User, Actor: authority.NewActor(r.Agents...), ID: r.TokenID,
			DelegationID: r.DelegationID, ClientID: r.Client}
		a = &approvalRequest{id: r.ID, key: approvalKey{tokenID: r.TokenID, slug: r.Upstream, tool: r.Tool, argsHash: r.ArgsHash},
			claims: c, sessionID: r.SessionID, rule: &policy.Approval{From: r.From}, args: r.Args, expires: r.Expires,
			ctx: ctx, cancel: cancel}
		s.byID[r.ID] = a
	}
	a.state, a.approver = stateOf(r.State), r.Approver
	return a
}

func (s *approvals) sharedTake(ctx context.Context, now time.Time, open func() *approvalRequest) (*approvalRequest, approvalState, bool, error) {
	mine := open()
	got, created, err := s.shared.TakeApproval(ctx, mine.record(), maxApprovalsPerToken, now)
	if err != nil {
		mine.cancel()
		if errors.Is(err, ErrTooManyApprovals) {
			return nil, approvalPending, false, nil
		}
		return nil, approvalPending, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if created {
		s.byID[mine.id] = mine
		return mine, approvalPending, true, nil
	}
	mine.cancel()
	a := s.mirrorLocked(got)
	if a.state != approvalPending {
		s.removeLocked(a) // used up in the store as it was taken
	}
	return a, a.state, false, nil
}

// sharedList reads the requests that have not expired, mirrors them, and
// forgets (withdrawing their questions) the mirrors the store no longer
// holds as pending.
func (s *approvals) sharedList(ctx context.Context, now time.Time) ([]*approvalRequest, error) {
	recs, err := s.shared.Approvals(ctx, now)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(recs))
	out := make([]*approvalRequest, 0, len(recs))
	for _, r := range recs {
		seen[r.ID] = true
		out = append(out, s.mirrorLocked(r))
	}
	for id, a := range s.byID {
		if !seen[id] || a.state != approvalPending {
			a.cancel()
			if !seen[id] {
				delete(s.byID, id)
			}
		}
	}
	return out, nil
}
