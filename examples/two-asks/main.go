// Command two-asks is a narrated demo of one shared agent serving two
// people: the helpdesk agent acts for alice and for bob, each time with the
// delegation of the person who asked, so every call is authorized and
// audited under the right human. Bob cannot get the agent to read alice's
// files (no confused deputy), not by naming them, not by a path that climbs
// into them, and not by the agent reusing alice's session.
//
//	go run ./examples/two-asks
//
// Everything runs in this process on loopback ports (examples/internal/demo).
package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/examples/internal/demo"
	"github.com/openlegant/legant/issuer/store"
)

func main() { demo.Main("two-asks", run) }

var specs = []demo.UpstreamSpec{{Slug: "docs", Tools: []demo.Tool{
	{Name: "read_doc", Binding: "scope: docs:read\nresource: {pointer: /path, kind: path}", Args: map[string]string{"path": "string"}},
}}}

type story struct {
	env *demo.Env
	n   *demo.Narrator
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
	s.n.Say("setup", "gateway %s/mcp/docs: read_doc(path); one agent, agent:helpdesk, serves alice and bob", env.GatewayURL)
	alice, err := s.session(ctx, "alice")
	if err != nil {
		return s.n.Decisions(), err
	}
	defer alice.Close()
	bob, err := s.session(ctx, "bob")
	if err != nil {
		return s.n.Decisions(), err
	}
	defer bob.Close()
	s.n.Say("helpdesk", "keeps one MCP session per person, each with that person's token")

	s.n.Scene("Each asks for their own document")
	for _, st := range []struct {
		step, who string
		a         *demo.Agent
		path      string
		want      string
	}{
		{"alice reads her plan", "alice", alice, "/home/alice/plan.md", "allow"},
		{"bob reads his notes", "bob", bob, "/home/bob/notes.md", "allow"},
	} {
		if err := s.read(ctx, st.step, st.who, st.a, st.path, st.want); err != nil {
			return s.n.Decisions(), err
		}
	}
	if err := s.deputy(ctx, alice, bob); err != nil {
		return s.n.Decisions(), err
	}
	if err := s.ledger(ctx); err != nil {
		return s.n.Decisions(), err
	}
	return s.n.Decisions(), s.n.Err()
}

// session mints who's delegation to the helpdesk (their home directory
// only) and opens the helpdesk's session for them.
func (s *story) session(ctx context.Context, who string) (*demo.Agent, error) {
	c := &authority.Claims{Subject: who, Audience: []string{s.env.Audience("docs")}, Scopes: []string{"docs:read"},
		Actor: authority.NewActor("helpdesk"), Constraints: authority.Constraints{Tools: authority.Only("read_doc"),
			Resources: authority.Only("/home/" + who + "/"), Categories: authority.AnyOf()}}
	token, err := s.env.Mint(c)
	if err != nil {
		return nil, err
	}
	s.n.Say("issuer", "%s delegates to agent:helpdesk: read_doc under /home/%s/", who, who)
	a, refused, err := s.env.Connect(ctx, "docs", token, "helpdesk")
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, fmt.Errorf("helpdesk for %s: connect refused: %s", who, refused)
	}
	return a, nil
}

// read: the helpdesk reads path for who, in a.
func (s *story) read(ctx context.Context, step, who string, a *demo.Agent, path, want string) error {
	s.n.Say("helpdesk", "for %s: read_doc %s", who, path)
	out, err := a.Call(ctx, "read_doc", map[string]any{"path": path})
	if err != nil {
		return err
	}
	s.n.Expect(step, out, want)
	ev, err := s.env.NextAudit(ctx, demo.AuditOf("docs", "read_doc", out))
	if err != nil {
		return err
	}
	s.n.Say("audit", "%s", demo.AuditLine(ev))
	s.n.Check(step+", audited under", ev.User, who)
	return nil
}

// deputy: bob tries to get the shared agent to read alice's document.
func (s *story) deputy(ctx context.Context, alice, bob *demo.Agent) error {
	s.n.Scene("Bob asks the helpdesk for alice's plan")
	s.n.Say("bob", "\"summarize /home/alice/plan.md for me\"")
	if err := s.read(ctx, "bob names alice's file", "bob", bob, "/home/alice/plan.md", "deny resource"); err != nil {
		return err
	}
	s.n.Say("", "why: the call is bob's, so it carries bob's delegation: /home/bob/ only. The agent's own reach is no longer")
	s.n.Say("", "     the question; the asker's is")
	s.n.Say("bob", "\"then summarize /home/bob/../alice/plan.md\"")
	if err := s.read(ctx, "bob climbs into alice's home", "bob", bob, "/home/bob/../alice/plan.md", "deny resource"); err != nil {
		return err
	}
	s.n.Say("", "why: paths are canonicalized before they are compared: this one is /home/alice/plan.md")

	s.n.Scene("A buggy helpdesk answers bob in alice's session")
	s.n.Say("helpdesk", "sends bob's request on alice's session %.8s…, presenting bob's token", alice.SessionID())
	alice.SetToken(bob.Token())
	out, err := alice.Call(ctx, "read_doc", map[string]any{"path": "/home/alice/plan.md"})
	if err != nil {
		return err
	}
	s.n.Expect("bob's token on alice's session", out, "404 session not found")
	ev, err := s.env.NextAudit(ctx, demo.AuditOf("docs", "read_doc", out))
	if err != nil {
		return err
	}
	s.n.Say("audit", "%s", demo.AuditLine(ev))
	s.n.Check("bob's token on alice's session, audited as", ev.User+" "+ev.Reason, "bob session_of_other_principal")
	s.n.Say("", "why: a gateway session belongs to the user and agent chain that opened it; another principal's token")
	s.n.Say("", "     cannot ride on it (the client is told \"not found\", which reveals nothing about alice's session)")
	return nil
}

// ledger: what the upstream ran, and the audit log per person.
func (s *story) ledger(ctx context.Context) error {
	s.n.Scene("Who did what")
	var ran []string
	for _, c := range s.env.Upstreams["docs"].Calls() {
		ran = append(ran, fmt.Sprintf("%s for %s", c.Args["path"], c.Claims.Provenance()))
	}
	for _, r := range ran {
		s.n.Say("upstream", "ran read_doc %s", r)
	}
	s.n.Check("what the upstream ran", strings.Join(ran, "; "),
		"/home/alice/plan.md for user:alice → agent:helpdesk → agent:legant-gateway; /home/bob/notes.md for user:bob → agent:helpdesk → agent:legant-gateway")
	s.env.CloseGateway() // flush the gateway's audit queue
	for _, who := range []string{"alice", "bob"} {
		evs, err := s.env.Store.Audit().Query(ctx, store.AuditFilter{User: who, Tool: "read_doc"})
		if err != nil {
			return err
		}
		var kinds []string
		for _, ev := range evs {
			kinds = append(kinds, string(ev.Kind))
		}
		s.n.Say("audit", "user=%s: %s", who, strings.Join(kinds, ", "))
		s.n.Check("audit of "+who, strings.Join(kinds, ", "), map[string]string{"alice": "allow", "bob": "allow, deny, deny"}[who])
	}
	return nil
}
