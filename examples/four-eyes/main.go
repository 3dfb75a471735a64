// Command four-eyes is a narrated demo of two-person approval: the bank
// upstream registers wire_transfer with `approval: {from: [alice, bob]}`.
// Alice's treasury agent may wire money, but Legant forwards a transfer only
// once a second human approves that exact call. The agent's first attempt is
// refused pending approval; Alice, though she is on the approvers' list,
// cannot approve her own call; Bob, asked in his approvals inbox with an
// elicitation, approves; the transfer then runs once, and a replay of the
// approved call is refused again.
//
//	go run ./examples/four-eyes
//
// Everything runs in this process on loopback ports (examples/internal/demo).
package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/examples/internal/demo"
)

func main() { demo.Main("four-eyes", run) }

var specs = []demo.UpstreamSpec{{Slug: "bank", Tools: []demo.Tool{
	{Name: "get_balance", Binding: "scope: bank:read", Args: map[string]string{"account": "string"}},
	{Name: "wire_transfer", Description: "Wire money to a beneficiary",
		Binding: "scope: bank:wire\namount: {pointer: /amount, currency: EUR}\napproval: {from: [alice, bob], ttl: 15m}",
		Args:    map[string]string{"amount": "number", "to": "string"}},
}}}

var transfer = map[string]any{"amount": 9000, "to": "ACME GmbH, DE89 3704 0044 0532 0130 00"}

type story struct {
	env   *demo.Env
	n     *demo.Narrator
	agent *demo.Agent
}

// run plays the demo, writing the transcript to w. It returns the decisions
// in order; an error when one is not what the demo promises.
func run(ctx context.Context, w io.Writer) ([]string, error) {
	env, err := demo.Start(ctx, demo.Options{Upstreams: specs})
	if err != nil {
		return nil, err
	}
	defer env.Close()
	s := &story{env: env, n: demo.NewNarrator(w)}
	s.n.Say("setup", "gateway %s/mcp/bank: get_balance, and wire_transfer registered with approval: {from: [alice, bob]}", env.GatewayURL)
	s.n.Say("setup", "approvers open their inbox at %s with their own token", env.ApprovalsAudience())
	c := &authority.Claims{Subject: "alice", Audience: []string{env.Audience("bank")}, Scopes: []string{"bank:read", "bank:wire"},
		Actor: authority.NewActor("treasurer"), ID: "tok-treasurer-1", Constraints: authority.Unrestricted()}
	token, err := env.Mint(c)
	if err != nil {
		return nil, err
	}
	s.n.Say("issuer", "alice delegates bank:read and bank:wire to agent:treasurer (token %s)", c.ID)
	agent, refused, err := env.Connect(ctx, "bank", token, "treasurer")
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, fmt.Errorf("connect refused: %s", refused)
	}
	defer agent.Close()
	s.agent = agent

	if err := s.scenes(ctx); err != nil {
		return s.n.Decisions(), err
	}
	return s.n.Decisions(), s.n.Err()
}

func (s *story) scenes(ctx context.Context) error {
	s.n.Scene("Alice asks her agent to pay ACME's invoice")
	if _, err := s.call(ctx, "check the balance", "get_balance", map[string]any{"account": "main"}, "allow", audit.KindAllow); err != nil {
		return err
	}
	s.n.Say("treasurer", "wire_transfer(amount=9000, to=ACME GmbH)")
	id, err := s.call(ctx, "the transfer", "wire_transfer", transfer, "deny approval_required", audit.KindApprovalRequested)
	if err != nil {
		return err
	}

	s.n.Scene("Alice tries to approve it herself")
	if err := s.selfApproval(ctx, id); err != nil {
		return err
	}

	s.n.Scene("Bob opens his approvals inbox")
	if err := s.bobApproves(ctx); err != nil {
		return err
	}

	s.n.Scene("The agent retries the same call")
	if _, err := s.call(ctx, "the approved transfer", "wire_transfer", transfer, "allow", audit.KindAllow); err != nil {
		return err
	}
	s.n.Say("treasurer", "sends the very same call again (a loop, or a replay)")
	if _, err := s.call(ctx, "the replay", "wire_transfer", transfer, "deny approval_required", audit.KindApprovalRequested); err != nil {
		return err
	}
	var ran []string
	for _, c := range s.env.Upstreams["bank"].Calls() {
		ran = append(ran, c.Tool)
	}
	s.n.Say("upstream", "ran: %s", strings.Join(ran, ", "))
	s.n.Check("what the bank ran", strings.Join(ran, ", "), "get_balance, wire_transfer")
	return nil
}

// call: the agent calls tool; the decision must be want, and the audit event
// of kind is shown. It returns the approval id the refusal named, if any.
func (s *story) call(ctx context.Context, step, tool string, args map[string]any, want string, kind audit.Kind) (string, error) {
	out, err := s.agent.Call(ctx, tool, args)
	if err != nil {
		return "", err
	}
	s.n.Expect(step, out, want)
	ev, err := s.env.NextAudit(ctx, func(ev audit.Event) bool { return ev.Kind == kind && ev.Tool == tool })
	if err != nil {
		return "", err
	}
	s.n.Say("audit", "%s", demo.AuditLine(ev))
	got, want := fmt.Sprintf("%s %s", ev.Kind, ev.User), fmt.Sprintf("%s alice", kind)
	if ev.Value != "" {
		got += ", approved by " + ev.Value
	}
	if step == "the approved transfer" {
		want += ", approved by bob" // the second human, named on the allow
	}
	s.n.Check(step+", audited as", got, want)
	return out.Data.Approval, nil
}

// selfApproval: alice, listed as an approver, opens her inbox with her own
// token; she is not asked about her own call, and approving it by id is
// refused.
func (s *story) selfApproval(ctx context.Context, id string) error {
	alice, err := s.approver(ctx, "alice")
	if err != nil {
		return err
	}
	defer alice.Close()
	s.n.Say("alice", "approve(%s)", id)
	out, err := alice.Call(ctx, "approve", map[string]any{"id": id})
	if err != nil {
		return err
	}
	s.n.Expect("alice approves her own call", out, "deny self_approval")
	ev, err := s.env.NextAudit(ctx, func(ev audit.Event) bool { return ev.Kind == audit.KindApprovalRefused })
	if err != nil {
		return err
	}
	s.n.Say("audit", "%s", demo.AuditLine(ev))
	s.n.Check("alice's attempt, audited as", fmt.Sprintf("%s %s by %s", ev.Kind, ev.Reason, ev.Value), "approval_refused self_approval by alice")
	select {
	case q := <-alice.Asked:
		s.n.Check("alice was asked", q.Message, "never")
	default:
	}
	return nil
}

// bobApproves: bob opens his inbox; Legant asks him about the open request
// with an elicitation, and he accepts.
func (s *story) bobApproves(ctx context.Context) error {
	bob, err := s.approver(ctx, "bob")
	if err != nil {
		return err
	}
	defer bob.Close()
	q, err := bob.Next(ctx)
	if err != nil {
		return err
	}
	s.n.Say("legant", "elicitation/create → bob: %q", shorten(q.Message))
	s.n.Check("bob is asked about", whatIsAsked(q.Message), "user:alice → agent:treasurer asks to call wire_transfer on bank")
	s.n.Say("bob", "accepts: {approve: true}")
	q.Approve()
	ev, err := s.env.NextAudit(ctx, func(ev audit.Event) bool {
		return ev.Kind == audit.KindApprovalGranted || ev.Kind == audit.KindApprovalDeclined
	})
	if err != nil {
		return err
	}
	s.n.Say("audit", "%s", demo.AuditLine(ev))
	s.n.Check("bob's answer, audited as", fmt.Sprintf("%s %s for %s", ev.Kind, ev.Value, ev.User), "approval_granted bob for alice")
	return nil
}

// approver mints who's own token for the approvals inbox and opens it.
func (s *story) approver(ctx context.Context, who string) (*demo.Approver, error) {
	c := &authority.Claims{Subject: who, Audience: []string{s.env.ApprovalsAudience()},
		Actor: authority.NewActor("approvals-app"), Constraints: authority.Unrestricted()}
	token, err := s.env.Mint(c)
	if err != nil {
		return nil, err
	}
	s.n.Say(who, "opens the approvals inbox with their own token (sub=%s, aud=…/approvals)", who)
	a, refused, err := s.env.ConnectApprover(ctx, token, who)
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, fmt.Errorf("%s: inbox refused: %s", who, refused)
	}
	return a, nil
}

// whatIsAsked is the question without the request's id and the arguments
// (they vary): who asks to call what where.
func whatIsAsked(msg string) string {
	_, rest, _ := strings.Cut(msg, ": ")
	what, _, _ := strings.Cut(rest, " with ")
	return what
}

func shorten(msg string) string {
	if i := strings.Index(msg, " (arguments sha256 "); i >= 0 {
		if j := strings.Index(msg[i:], ")"); j >= 0 {
			return msg[:i] + msg[i+j+1:]
		}
	}
	return msg
}
