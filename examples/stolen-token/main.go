// Command stolen-token is a narrated demo: a thief replays an agent's stolen
// Legant token and is refused for every reason a delegation token carries —
// another upstream (audience), a tool the delegation does not grant, outside
// its business-hours window, after it expired, after one `legant revoke` —
// and, with a DPoP-bound token, even while it is valid: the gateway, and an
// API protected by the Go SDK, refuse it without the agent's key.
//
//	go run ./examples/stolen-token
//
// Everything runs in this process on loopback ports (examples/internal/demo):
// the real gateway, the store as issuer (SQLite in a temporary directory),
// go-sdk MCP upstreams and clients. The demo's clock starts on a Tuesday at
// 16:45 UTC and jumps forward instead of sleeping.
package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/examples/internal/demo"
)

func main() { demo.Main("stolen-token", run) }

// start is a Tuesday, 15 minutes before the end of the business day.
var start = time.Date(2026, 3, 10, 16, 45, 0, 0, time.UTC)

const window = "mon-fri 09:00-17:00 UTC"

// revokedJTI names the token revoked in the demo (fixed, so the transcript is).
const revokedJTI = "tok-0311-assistant"

var specs = []demo.UpstreamSpec{
	{Slug: "crm", Tools: []demo.Tool{
		{Name: "read_contacts", Binding: "scope: crm:read"},
		{Name: "export_contacts", Binding: "scope: crm:read"},
	}},
	{Slug: "billing", Tools: []demo.Tool{
		{Name: "charge", Binding: "scope: billing:write\namount: {pointer: /amount, currency: USD}", Args: map[string]string{"amount": "number"}},
	}},
}

// run plays the demo, writing the transcript to w. It returns the decisions
// in order; an error when one is not what the demo promises.
func run(ctx context.Context, w io.Writer) ([]string, error) {
	env, err := demo.Start(ctx, demo.Options{Upstreams: specs, Start: start})
	if err != nil {
		return nil, err
	}
	defer env.Close()
	n := demo.NewNarrator(w)
	s := &story{env: env, n: n}
	n.Say("setup", "gateway %s: /mcp/crm (read_contacts, export_contacts), /mcp/billing (charge)", env.GatewayURL)
	n.Say("setup", "issuer  %s (store: SQLite in a temporary directory); clock: %s", env.IssuerURL, clock(env))
	for _, scene := range []func(context.Context) error{s.replays, s.revoked, s.boundAtGateway, s.boundToKey} {
		if err := scene(ctx); err != nil {
			return n.Decisions(), err
		}
	}
	n.Scene("What reached the upstreams")
	crm, billing := len(env.Upstreams["crm"].Calls()), len(env.Upstreams["billing"].Calls())
	n.Say("upstreams", "crm ran %d call(s), billing %d: every refused replay was stopped at the gateway", crm, billing)
	n.Check("calls the crm upstream ran", fmt.Sprint(crm), "3")
	n.Check("calls the billing upstream ran", fmt.Sprint(billing), "0")
	return n.Decisions(), n.Err()
}

type story struct {
	env *demo.Env
	n   *demo.Narrator
}

func clock(env *demo.Env) string { return env.Clock.Now().Format("Mon 15:04 MST") }

// audit narrates the audit event of a decision.
func (s *story) audit(ctx context.Context, slug, tool string, out demo.Outcome) error {
	ev, err := s.env.NextAudit(ctx, demo.AuditOf(slug, tool, out))
	if err != nil {
		return err
	}
	s.n.Say("audit", "%s", demo.AuditLine(ev))
	return nil
}

// attempt is one call through the gateway, narrated, checked and audited.
func (s *story) attempt(ctx context.Context, step, who, slug, token, tool, want, why string) error {
	s.n.Say(who, "[%s] calls %s on /mcp/%s", clock(s.env), tool, slug)
	out, err := s.env.Attempt(ctx, slug, token, who, tool, map[string]any{"amount": 5})
	if err != nil {
		return err
	}
	s.n.Expect(step, out, want)
	if why != "" {
		s.n.Say("", "%s", why)
	}
	return s.audit(ctx, slug, tool, out)
}

// replays: one token, stolen, replayed everywhere it does not hold.
func (s *story) replays(ctx context.Context) error {
	s.n.Scene("A bearer token, stolen")
	c := &authority.Claims{Subject: "alice", Audience: []string{s.env.Audience("crm")}, Scopes: []string{"crm:read"},
		Actor: authority.NewActor("assistant"), ExpiresAt: start.Add(20 * time.Minute), Constraints: grant()}
	token, err := s.env.Mint(c)
	if err != nil {
		return err
	}
	s.n.Say("issuer", "alice delegates to agent:assistant: /mcp/crm only, tool read_contacts, %s, expires %s", window, c.ExpiresAt.Format("15:04"))
	if err := s.attempt(ctx, "owner reads contacts", "assistant", "crm", token, "read_contacts", "allow", ""); err != nil {
		return err
	}
	s.n.Say("thief", "copies the token from the assistant's debug log and replays it")
	if err := s.attempt(ctx, "replayed on another upstream", "thief", "billing", token, "charge",
		"401 the token's audience is not this resource",
		"why: the token names /mcp/crm as its audience (RFC 8707); each upstream accepts only its own"); err != nil {
		return err
	}
	if err := s.ungranted(ctx, token); err != nil {
		return err
	}
	s.env.Clock.Set(start.Add(16 * time.Minute))
	if err := s.attempt(ctx, "replayed after business hours", "thief", "crm", token, "read_contacts", "deny window",
		"why: the delegation holds only in business hours; the gateway checks the window on every call"); err != nil {
		return err
	}
	s.env.Clock.Set(start.Add(22 * time.Minute))
	return s.attempt(ctx, "replayed once expired", "thief", "crm", token, "read_contacts", "401 the token has expired",
		"why: delegation tokens are short-lived; this one expired at 17:05")
}

// grant is the assistant's constraints: read_contacts in business hours.
func grant() authority.Constraints {
	w, err := authority.ParseWindowSpec(window)
	if err != nil {
		panic(err) // a constant
	}
	c := authority.Unrestricted()
	c.Tools, c.Window = authority.Only("read_contacts"), &w
	return c
}

// ungranted: the thief looks for more than the delegation grants.
func (s *story) ungranted(ctx context.Context, token string) error {
	a, refused, err := s.env.Connect(ctx, "crm", token, "thief")
	if err != nil {
		return err
	}
	if refused != nil {
		return fmt.Errorf("thief: connect refused: %s", refused)
	}
	defer a.Close()
	tools, err := a.Tools(ctx)
	if err != nil {
		return err
	}
	s.n.Say("thief", "[%s] lists the tools of /mcp/crm", clock(s.env))
	s.n.Check("tools the thief sees", strings.Join(tools, ","), "read_contacts")
	s.n.Say("legant", "shows only %v: export_contacts is not in the delegation, so it is not listed", tools)
	s.n.Say("thief", "[%s] calls export_contacts anyway", clock(s.env))
	out, err := a.Call(ctx, "export_contacts", nil)
	if err != nil {
		return err
	}
	s.n.Expect("tool not granted", out, "deny tool_not_allowed")
	s.n.Say("", "why: the delegation grants read_contacts only; export_contacts never reaches the upstream")
	return s.audit(ctx, "crm", "export_contacts", out)
}

// revoked: a valid stolen token works until one revoke.
func (s *story) revoked(ctx context.Context) error {
	s.n.Scene("Revoked by one `legant revoke`")
	s.env.Clock.Set(time.Date(2026, 3, 11, 9, 30, 0, 0, time.UTC))
	c := &authority.Claims{Subject: "alice", Audience: []string{s.env.Audience("crm")}, Scopes: []string{"crm:read"},
		Actor: authority.NewActor("assistant"), Constraints: grant(), ID: revokedJTI}
	token, err := s.env.Mint(c)
	if err != nil {
		return err
	}
	s.n.Say("issuer", "[%s] a fresh token for agent:assistant (jti %s), and the thief copies it too", clock(s.env), c.ID)
	if err := s.attempt(ctx, "fresh stolen token, in hours", "thief", "crm", token, "read_contacts", "allow",
		"why: a bearer token works for whoever holds it, inside its limits — until it is revoked"); err != nil {
		return err
	}
	s.n.Say("alice", "sees a call she did not make in the audit log and runs: legant revoke --jti %s --reason \"token leaked\"", c.ID)
	if err := s.env.Revoke(ctx, revfeed.KindToken, c.ID, "token leaked"); err != nil {
		return err
	}
	ev, err := s.env.NextAudit(ctx, func(ev audit.Event) bool { return ev.Kind == audit.KindRevoke })
	if err != nil {
		return err
	}
	s.n.Say("audit", "%s", demo.AuditLine(ev))
	return s.attempt(ctx, "replayed after revocation", "thief", "crm", token, "read_contacts",
		"401 the token has been revoked (token "+revokedJTI+" revoked: token leaked)",
		"why: the gateway holds the revocation set in memory, updated by the store at once; no call reaches the upstream")
}
