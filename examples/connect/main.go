// Command connect is a narrated demo of an upstream behind its own OAuth
// (registry `auth: {kind: oauth}`): a hosted issue tracker whose MCP
// endpoint takes only its own tokens. The agent's first call is not sent:
// Legant answers connection_required with a link; alice follows it once
// (the demo is her browser: the tracker's login and consent), and the
// retried call reaches the tracker with the tracker's own token for her —
// the tracker sees its own account, never the Legant token. After a
// disconnect the next call asks again.
//
//	go run ./examples/connect
//
// Everything runs in this process on loopback ports (examples/internal/demo):
// the tracker's authorization server is a second, unrelated Legant issuer.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/examples/internal/demo"
)

func main() { demo.Main("connect", run) }

type story struct {
	env     *demo.Env
	n       *demo.Narrator
	tracker *hosted
	token   string // alice's Legant token for the agent
	agent   *demo.Agent
	link    string // the connect URL of the first call's answer
}

// run plays the demo, writing the transcript to w. It returns the decisions
// in order; an error when one is not what the demo promises.
func run(ctx context.Context, w io.Writer) ([]string, error) {
	tracker, err := startHosted(ctx)
	if err != nil {
		return nil, err
	}
	defer tracker.close()
	env, err := demo.Start(ctx, demo.Options{Upstreams: []demo.UpstreamSpec{{Slug: "tracker", URL: tracker.resource,
		Auth: "{kind: oauth}", Tools: []demo.Tool{{Name: "list_issues", Binding: "scope: tracker:read"}}}}})
	if err != nil {
		return nil, err
	}
	defer env.Close()
	s := &story{env: env, n: demo.NewNarrator(w), tracker: tracker}
	s.n.Say("setup", "tracker %s: a hosted MCP server that takes only tokens of its own OAuth server", tracker.resource)
	s.n.Say("setup", "gateway %s/mcp/tracker, registry auth: {kind: oauth}", env.GatewayURL)
	c := &authority.Claims{Subject: "alice", Audience: []string{env.Audience("tracker")}, Scopes: []string{"tracker:read"},
		Actor: authority.NewActor("assistant"), ID: "tok-assistant-1", Constraints: authority.Unrestricted()}
	if s.token, err = env.Mint(c); err != nil {
		return nil, err
	}
	s.n.Say("issuer", "alice delegates tracker:read to agent:assistant (Legant token %s)", c.ID)
	for _, scene := range []func(context.Context) error{s.firstCall, s.connect, s.retry, s.disconnect} {
		if err := scene(ctx); err != nil {
			return s.n.Decisions(), err
		}
	}
	return s.n.Decisions(), s.n.Err()
}

// firstCall: alice has not connected the tracker; nothing is sent to it.
func (s *story) firstCall(ctx context.Context) error {
	s.n.Scene("The agent's first call")
	s.n.Say("assistant", "connects to /mcp/tracker (initialize)")
	_, refused, err := s.env.Connect(ctx, "tracker", s.token, "assistant")
	if err != nil {
		return err
	}
	if refused == nil {
		return errors.New("the session opened before alice connected the tracker")
	}
	s.n.Expect("first call", *refused, "connection_required")
	s.link = refused.URL
	s.n.Check("the link", linkShape(refused.URL, s.env.GatewayURL), "the gateway's /connect/tracker with a ticket")
	s.n.Check("requests the tracker accepted", fmt.Sprint(len(s.tracker.seen())), "0")
	s.n.Say("", "the agent passes the link to alice; the ticket in it is good for her and this upstream only, 10 minutes")
	return nil
}

// connectedText is the gateway's answer on the callback page.
var connectedText = regexp.MustCompile(`Connected [a-z0-9-]+: [^<]*`)

// label names the demo's URLs in checks, which must not depend on ports.
func (s *story) label(u string) string {
	switch u {
	case s.tracker.base:
		return "the tracker's server"
	case s.tracker.resource:
		return "the tracker's MCP endpoint"
	}
	return u
}

// linkShape says what a connect URL is, without its ticket (an HMAC).
func linkShape(u, gateway string) string {
	p, err := url.Parse(u)
	if err != nil || !strings.HasPrefix(u, gateway+"/connect/tracker?") || p.Query().Get("ticket") == "" {
		return "unexpected: " + u
	}
	return "the gateway's /connect/tracker with a ticket"
}

// connect: alice's browser follows the link: the gateway discovers the
// tracker's server, registers, sends her there; she signs in and consents;
// the callback stores the tokens.
func (s *story) connect(ctx context.Context) error {
	s.n.Scene("Alice opens the link (this demo is her browser)")
	b := newBrowser()
	p, err := b.get(s.link)
	if err != nil {
		return err
	}
	authz, err := url.Parse(p.location)
	if err != nil {
		return err
	}
	q := authz.Query()
	s.n.Say("gateway", "HTTP %d → %s%s", p.status, s.tracker.base, authz.Path)
	s.n.Say("", "found by discovery (401 → RFC 9728 → RFC 8414), client by DCR; PKCE %s, resource %s, scope %s",
		q.Get("code_challenge_method"), q.Get("resource"), q.Get("scope"))
	s.n.Check("the connect page sends alice to", fmt.Sprintf("%d %s", p.status, strings.TrimPrefix(authz.Path, "/")), "302 oauth2/authorize")
	s.n.Check("the request names", s.label(q.Get("resource"))+" "+q.Get("scope")+" "+q.Get("code_challenge_method"), "the tracker's MCP endpoint tracker:read offline_access S256")
	callback, err := b.loginAndConsent(p.location, s.tracker.base, hostedUser, hostedPassword)
	if err != nil {
		return err
	}
	s.n.Say("tracker", "alice signs in as %s (her tracker account and password) and approves list_issues", hostedUser)
	cb, err := b.get(callback)
	if err != nil {
		return err
	}
	said := connectedText.FindString(cb.body)
	done := strings.Contains(said, "retry your call")
	s.n.Say("gateway", "%s/connect/callback: HTTP %d, %q", s.env.GatewayURL, cb.status, said)
	s.n.Check("the callback", fmt.Sprintf("%d %t", cb.status, done), "200 true")
	conn, err := s.env.Store.GetConnection(ctx, "alice", "tracker")
	if err != nil {
		return fmt.Errorf("the connection was not stored: %w", err)
	}
	s.n.Say("store", "upstream_connections: alice/tracker, issued by %s, sealed at rest; the agent never sees it", conn.Issuer)
	s.n.Check("the stored connection's issuer", s.label(conn.Issuer), "the tracker's server")
	return nil
}

// retry: the same agent, the same Legant token; the tracker gets its own.
func (s *story) retry(ctx context.Context) error {
	s.n.Scene("The agent retries")
	agent, refused, err := s.env.Connect(ctx, "tracker", s.token, "assistant")
	if err != nil {
		return err
	}
	if refused != nil {
		s.n.Expect("the retried session", *refused, "allow")
		return s.n.Err()
	}
	s.agent = agent
	s.n.Say("assistant", "list_issues")
	out, err := agent.Call(ctx, "list_issues", nil)
	if err != nil {
		return err
	}
	s.n.Expect("the retried call", out, "allow")
	ev, err := s.env.NextAudit(ctx, func(ev audit.Event) bool { return ev.Kind == audit.KindAllow && ev.Tool == "list_issues" })
	if err != nil {
		return err
	}
	s.n.Say("audit", "%s", demo.AuditLine(ev))
	s.n.Check("audited as", fmt.Sprintf("%s %s %s=%s", ev.Kind, ev.User, ev.Constraint, ev.Value), "allow alice upstream_credential=oauth")
	seen := s.tracker.seen()
	if len(seen) == 0 {
		return errors.New("the tracker accepted nothing")
	}
	last := seen[len(seen)-1]
	s.n.Say("tracker", "accepted a token of its own server %s for its user %s", last.issuer, last.subject)
	s.n.Check("the tracker's view", s.label(last.issuer)+" "+last.subject, "the tracker's server "+hostedUser)
	var legant int
	for _, r := range seen {
		if r.token == s.token {
			legant++
		}
	}
	s.n.Say("", "%d request(s) it accepted, %d carrying the Legant token", len(seen), legant)
	s.n.Check("requests carrying the Legant token", fmt.Sprint(legant), "0")
	return nil
}

// disconnect: `legant connections revoke --user alice --upstream tracker`;
// the agent's next call asks again and reaches nothing.
func (s *story) disconnect(ctx context.Context) error {
	s.n.Scene("Alice disconnects the tracker")
	n, err := s.env.Store.DeleteConnection(ctx, "alice", "tracker")
	if err != nil {
		return err
	}
	s.n.Say("alice", "legant connections revoke --user alice --upstream tracker (%d deleted)", n)
	before := len(s.tracker.seen())
	s.n.Say("assistant", "list_issues, on the same session")
	out, err := s.agent.Call(ctx, "list_issues", nil)
	if err != nil {
		return err
	}
	s.n.Expect("the call after the disconnect", out, "connection_required")
	s.n.Check("its link", linkShape(out.URL, s.env.GatewayURL), "the gateway's /connect/tracker with a ticket")
	ev, err := s.env.NextAudit(ctx, func(ev audit.Event) bool { return ev.Tool == "list_issues" })
	if err != nil {
		return err
	}
	s.n.Say("audit", "%s", demo.AuditLine(ev))
	s.n.Check("audited as", fmt.Sprintf("%s %s %s", ev.Kind, ev.User, ev.Reason), "deny alice connection_required")
	s.n.Check("requests the tracker accepted since", fmt.Sprint(len(s.tracker.seen())-before), "0")
	return nil
}
