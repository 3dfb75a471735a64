package gateway

// Approval: four-eyes tools (policy.Binding.Approval). A call policy allows
// to such a tool is not forwarded until a second, distinct human approves
// that exact call. The first attempt opens an approval request (audited
// approval_requested) and is refused with CodeApprovalRequired and the
// request's id; the gateway asks every approver who has the approvals inbox
// open (approval_inbox.go) with an elicitation. Once one accepts, the same
// call — same token (jti), upstream, tool and argument hash — is forwarded
// once; the approval is then used up, and a repeat needs a new one.
//
// The approver is never the requester: not the token's subject, not anyone
// in its act chain, and not acting through a chain that contains the
// requester. Requests live in this process (a replica's own; docs/GATEWAY.md).

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/policy"
)

const (
	// maxApprovals bounds the open approval requests of a gateway.
	maxApprovals = 10_000
	// maxApprovalsPerToken bounds the open requests of one token, so an
	// agent cannot flood the approvers with questions.
	maxApprovalsPerToken = 16
)

// approvalState is where an approval request stands.
type approvalState int

const (
	approvalPending  approvalState = iota // waiting for an approver
	approvalGranted                       // approved, not used yet
	approvalDeclined                      // an approver declined
)

// approvalKey binds an approval to one exact call under one token.
type approvalKey struct {
	tokenID, slug, tool, argsHash string
}

// approvalRequest is one call waiting for (or holding) a second human's
// decision. Its fields other than state and approver never change after
// creation; ctx ends when the request is decided, used, cancelled or
// expires, which ends the elicitations asking about it.
type approvalRequest struct {
	id        string
	key       approvalKey
	claims    *authority.Claims // the requester's verified token
	sessionID string
	rule      *policy.Approval
	args      []byte // the raw arguments, shown to the approver
	expires   time.Time
	ctx       context.Context
	cancel    context.CancelFunc

	// guarded by approvals.mu
	state    approvalState
	approver string // who decided; "" while pending
}

// event is an audit event about a under the requester's principal.
func (a *approvalRequest) event(kind audit.Kind, reason, approver string) audit.Event {
	ev := withPrincipal(audit.Event{Kind: kind, Upstream: a.key.slug, Method: "tools/call", Tool: a.key.tool,
		ArgsHash: a.key.argsHash, SessionID: a.sessionID, Reason: reason,
		Constraint: "approval", Limit: a.id, Value: approver}, a.claims)
	if kind == audit.KindDeny || kind == audit.KindApprovalRequested {
		ev.Decision = "deny"
	}
	return ev
}

// approvals holds the open approval requests of this gateway. Safe for
// concurrent use.
type approvals struct {
	root   context.Context // cancelled by close: ends every elicitation
	stop   context.CancelFunc
	shared ApprovalStore // nil: the requests live in byID and byKey only (approval_shared.go)

	mu    sync.Mutex
	byID  map[string]*approvalRequest
	byKey map[approvalKey]*approvalRequest
}

func newApprovals(shared ApprovalStore) *approvals {
	ctx, cancel := context.WithCancel(context.Background())
	return &approvals{root: ctx, stop: cancel, shared: shared, byID: map[string]*approvalRequest{}, byKey: map[approvalKey]*approvalRequest{}}
}

// take returns the request for key and what it says about the call: a
// granted one is used up here (removed: it admits this call only); a
// declined one is removed too (the next attempt asks again); a pending one
// stays. When key has none (or only an expired one), a new pending request
// is made by open and returned with created = true. It returns nil when the
// limits on open requests are reached; an error when the shared store fails.
func (s *approvals) take(ctx context.Context, key approvalKey, now time.Time, open func() *approvalRequest) (a *approvalRequest, state approvalState, created bool, err error) {
	if s.shared != nil {
		return s.sharedTake(ctx, now, open)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a = s.byKey[key]; a != nil && !now.Before(a.expires) {
		s.removeLocked(a)
		a = nil
	}
	if a != nil {
		if a.state != approvalPending {
			s.removeLocked(a)
		}
		return a, a.state, false, nil
	}
	if len(s.byID) >= maxApprovals {
		s.sweepLocked(now)
	}
	if len(s.byID) >= maxApprovals || s.countLocked(key.tokenID) >= maxApprovalsPerToken {
		return nil, approvalPending, false, nil
	}
	a = open()
	s.byID[a.id], s.byKey[key] = a, a
	return a, approvalPending, true, nil
}

// putBack returns a used approval whose call could not run after all (the
// audit log refused its allow record) while it has not expired and its key
// has no newer request. nil does nothing; so does a shared store (the
// approval is lost with the store's outage: the approver is asked again).
func (s *approvals) putBack(a *approvalRequest, now time.Time) {
	if a == nil || s.shared != nil || !now.Before(a.expires) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKey[a.key] == nil && s.byID[a.id] == nil {
		s.byID[a.id], s.byKey[a.key] = a, a
	}
}

// pending returns the open request id, nil when there is none (unknown,
// decided, used, expired or cancelled).
func (s *approvals) pending(ctx context.Context, id string, now time.Time) *approvalRequest {
	if s.shared != nil {
		list, err := s.sharedList(ctx, now)
		if err != nil {
			return nil
		}
		for _, a := range list {
			if a.id == id && a.state == approvalPending {
				return a
			}
		}
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID[id]
	if a == nil || a.state != approvalPending || !now.Before(a.expires) {
		return nil
	}
	return a
}

// each calls f for every pending request.
func (s *approvals) each(ctx context.Context, now time.Time, f func(*approvalRequest)) error {
	var open []*approvalRequest
	if s.shared != nil {
		list, err := s.sharedList(ctx, now)
		if err != nil {
			return err
		}
		for _, a := range list {
			if a.state == approvalPending {
				open = append(open, a)
			}
		}
	} else {
		s.mu.Lock()
		for _, a := range s.byID {
			if a.state == approvalPending && now.Before(a.expires) {
				open = append(open, a)
			}
		}
		s.mu.Unlock()
	}
	for _, a := range open {
		f(a)
	}
	return nil
}

// decide records approver's decision on a pending request. It reports
// false when a was no longer pending (another approver decided first, or it
// was cancelled or expired).
func (s *approvals) decide(ctx context.Context, a *approvalRequest, approver string, grant bool, now time.Time) bool {
	if s.shared != nil {
		ok, err := s.shared.DecideApproval(ctx, a.id, approver, grant, now)
		if err != nil || !ok {
			return false
		}
		s.mu.Lock()
		s.removeLocked(a) // the store holds the decision; the other questions end
		s.mu.Unlock()
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID[a.id] != a || a.state != approvalPending || !now.Before(a.expires) {
		return false
	}
	a.state, a.approver = approvalDeclined, approver
	if grant {
		a.state = approvalGranted
	}
	a.cancel() // the other approvers' questions end
	return true
}

// cancel removes the requests whose requester sel matches and returns them.
func (s *approvals) cancel(ctx context.Context, sel Selector, now time.Time) []*approvalRequest {
	if s.shared != nil {
		list, err := s.sharedList(ctx, now)
		var out []*approvalRequest
		var ids []string
		for _, a := range list {
			if requestMatches(a, sel) {
				out, ids = append(out, a), append(ids, a.id)
			}
		}
		if err != nil || len(ids) == 0 || s.shared.DeleteApprovals(ctx, ids...) != nil {
			return nil // the requester's token is refused anyway: a later approval cannot be used
		}
		s.mu.Lock()
		for _, a := range out {
			s.removeLocked(a)
		}
		s.mu.Unlock()
		return out
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*approvalRequest
	for _, a := range s.byID {
		if requestMatches(a, sel) {
			s.removeLocked(a)
			out = append(out, a)
		}
	}
	return out
}

func requestMatches(a *approvalRequest, sel Selector) bool {
	if sel.empty() {
		return false
	}
	c := a.claims
	return (sel.SessionID == "" || sel.SessionID == a.sessionID) &&
		(sel.TokenID == "" || sel.TokenID == c.ID) &&
		(sel.DelegationID == "" || sel.DelegationID == c.DelegationID) &&
		(sel.User == "" || sel.User == c.Subject) &&
		(sel.Agent == "" || slices.Contains(c.Chain(), sel.Agent))
}

func (s *approvals) removeLocked(a *approvalRequest) {
	a.cancel()
	delete(s.byID, a.id)
	if s.byKey[a.key] == a {
		delete(s.byKey, a.key)
	}
}

func (s *approvals) sweepLocked(now time.Time) {
	for _, a := range s.byID {
		if !now.Before(a.expires) {
			s.removeLocked(a)
		}
	}
}

func (s *approvals) countLocked(tokenID string) int {
	n := 0
	for _, a := range s.byID {
		if a.key.tokenID == tokenID {
			n++
		}
	}
	return n
}

// close ends every elicitation in flight.
func (s *approvals) close() { s.stop() }

// approverRefusal says why the user of c may not approve a, "" when they
// may: the requester, anyone in the requester's act chain, or anyone acting
// through a chain that contains the requester is refused (self_approval);
// so is a user the tool's approval does not list (not_an_approver).
func approverRefusal(a *approvalRequest, c *authority.Claims) (policy.Reason, string) {
	req := a.claims
	switch {
	case c.Subject == req.Subject:
		return policy.ReasonSelfApproval, c.Subject + " made this call: a second human must approve it"
	case slices.Contains(req.Chain(), c.Subject):
		return policy.ReasonSelfApproval, c.Subject + " is in the chain of this call: a second human must approve it"
	case slices.Contains(c.Chain(), req.Subject) || slices.ContainsFunc(c.Chain(), func(s string) bool { return slices.Contains(req.Chain(), s) }):
		return policy.ReasonSelfApproval, "the approver's chain includes the caller's: a second human must approve it"
	case !a.rule.Approves(c.Subject):
		return policy.ReasonNotApprover, c.Subject + " is not an approver of " + a.key.tool
	}
	return "", ""
}

// checkApproval is the four-eyes step of authorizeCall, for a call policy
// allowed to a tool whose binding needs an approval. When this exact call
// holds an approval it is used up now and returned (ev then names the
// request and the approver); otherwise the refusal to answer is returned,
// after releasing hold and recording the decision.
func (g *Gateway) checkApproval(ctx context.Context, ex *exchange, m *message, rule *policy.Approval, args []byte, ev *audit.Event, hold policy.Hold) ([]byte, *approvalRequest) {
	key := approvalKey{tokenID: ex.claims.ID, slug: ex.up.Slug, tool: ev.Tool, argsHash: ev.ArgsHash}
	now := g.now()
	sctx, cancel := g.storeContext(ctx)
	a, state, created, err := g.approvals.take(sctx, key, now, func() *approvalRequest {
		actx, cancel := context.WithCancel(g.approvals.root)
		a := &approvalRequest{id: "apr_" + authority.NewID()[:16], key: key, claims: ex.claims, rule: rule,
			args: append([]byte(nil), args...), expires: now.Add(rule.Lifetime()), ctx: actx, cancel: cancel}
		if ex.sess != nil {
			a.sessionID = ex.sess.id
		}
		return a
	})
	cancel()
	if err != nil {
		g.log.Warn("approval store unavailable", "err", err)
		a, state = nil, approvalPending
	}
	if a != nil && state == approvalGranted {
		ev.Constraint, ev.Limit, ev.Value = "approval", a.id, a.approver
		return nil, a
	}
	if hold != nil {
		rctx, cancel := detach(ctx)
		hold.Release(rctx) // the call does not run now
		cancel()
	}
	if ex.sess != nil {
		ex.sess.activity.add(0, 1, nil, g.now())
	}
	d := policy.Deny(policy.ReasonApprovalRequired, "too many approval requests are open for this token")
	if err != nil {
		d = policy.Deny(policy.ReasonUnavailable, "approval requests cannot be read")
	}
	switch {
	case a == nil:
		ev.Reason = string(d.Reason)
		g.record(*ev)
	case state == approvalDeclined:
		d = policy.Deny(policy.ReasonApprovalDeclined, "%s declined approval %s of this call; calling again asks again", a.approver, a.id)
		g.record(a.event(audit.KindDeny, string(d.Reason), a.approver))
	case created:
		d = policy.Deny(policy.ReasonApprovalRequired, "%s needs a second person's approval: approval %s is requested from %s; call again once it is approved",
			ev.Tool, a.id, approversText(a.rule))
		g.record(a.event(audit.KindApprovalRequested, string(d.Reason), ""))
		g.askApprovers(a) // approval_inbox.go
	default:
		d = policy.Deny(policy.ReasonApprovalRequired, "approval %s of this call is still waiting for %s", a.id, approversText(a.rule))
		g.record(a.event(audit.KindDeny, string(d.Reason), ""))
	}
	e := d.RPCError()
	if a != nil {
		e.Data.Approval = a.id
	}
	return errorResponse(m.id, rpcError{Code: e.Code, Message: e.Message, Data: e.Data}), nil
}

func approversText(r *policy.Approval) string {
	switch len(r.From) {
	case 1:
		return r.From[0]
	case 2:
		return r.From[0] + " or " + r.From[1]
	}
	return "one of " + strings.Join(r.From, ", ")
}

// cancelApprovals ends the pending approval requests of what sel stops (a
// kill, a revocation): their approvers' questions are withdrawn and a later
// approval is impossible.
func (g *Gateway) cancelApprovals(ctx context.Context, sel Selector, reason string) {
	sctx, cancel := g.storeContext(ctx)
	defer cancel()
	for _, a := range g.approvals.cancel(sctx, sel, g.now()) {
		g.record(a.event(audit.KindApprovalCancelled, reason, ""))
	}
}
