// Command splice is a narrated demo of three-hop delegation: alice's planner
// delegates to a researcher, which delegates to an executor, each hop by
// authority.Attenuate (what `legant attenuate` and the issuer's token
// exchange run). Asking for more than the parent holds is refused with the
// reason; asking for looser limits is clamped to the parent's; each token
// carries its provenance in its act chain, and the upstream sees that chain
// with the gateway appended in the token the gateway mints for it.
//
//	go run ./examples/splice
//
// Everything runs in this process on loopback ports (examples/internal/demo).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/examples/internal/demo"
)

func main() { demo.Main("splice", run) }

var specs = []demo.UpstreamSpec{{Slug: "finance", Tools: []demo.Tool{
	{Name: "search_expenses", Binding: "scope: finance:read"},
	{Name: "submit_expense", Binding: "scope: finance:write\namount: {pointer: /amount, currency: USD}\ncategory: /category",
		Args: map[string]string{"amount": "number", "category": "string"}},
	{Name: "refund", Binding: "scope: finance:write\namount: {pointer: /amount, currency: USD}", Args: map[string]string{"amount": "number"}},
}}}

func usd(v string) *authority.Money {
	return &authority.Money{Value: authority.MustDecimal(v), Currency: "USD"}
}

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
	s.n.Say("setup", "gateway %s/mcp/finance: search_expenses, submit_expense, refund", env.GatewayURL)
	researcher, executor, err := s.delegate()
	if err != nil {
		return s.n.Decisions(), err
	}
	if err := s.calls(ctx, researcher, executor); err != nil {
		return s.n.Decisions(), err
	}
	return s.n.Decisions(), s.n.Err()
}

// token is a signed delegation and its claims.
type token struct {
	claims *authority.Claims
	jwt    string
}

// delegate builds the chain planner → researcher → executor, showing the
// refusals and the clamping on the way.
func (s *story) delegate() (researcher, executor token, err error) {
	s.n.Scene("Hop 0: alice → planner")
	root := &authority.Claims{Subject: "alice", Audience: []string{s.env.Audience("finance")},
		Scopes: []string{"finance:read", "finance:write"}, Actor: authority.NewActor("planner"), DelegationID: "d-planner",
		Constraints: authority.Constraints{Tools: authority.Only("search_expenses", "submit_expense"), Resources: authority.AnyOf(),
			Categories: authority.Only("travel", "meals"), MaxAmount: usd("500"), Budget: usd("2000")}}
	if _, err := s.env.Mint(root); err != nil {
		return token{}, token{}, err
	}
	s.n.Say("issuer", "alice grants %s", describe(root))

	s.n.Scene("Hop 1: planner → researcher")
	s.refuse("widen tools", root, "delegates to researcher, asking for refund too (strict, as `legant attenuate` asks)", authority.Request{Actor: "researcher",
		Constraints: constraints(func(c *authority.Constraints) { c.Tools = authority.Only("search_expenses", "refund") })}, true,
		"tools: tools [refund, search_expenses] are not all granted by the parent's [search_expenses, submit_expense]")
	s.refuse("widen audience", root, "delegates to researcher for /mcp/payroll, an upstream it was never granted", authority.Request{Actor: "researcher",
		Audience: []string{s.env.GatewayURL + "/mcp/payroll"}}, false,
		fmt.Sprintf("audience: audience %q is not granted by the parent token", s.env.GatewayURL+"/mcp/payroll"))
	s.n.Say("planner", "asks for researcher: max_amount 1000 USD, budget 5000 USD (looser than its own)")
	if researcher, err = s.attenuate(root, authority.Request{Actor: "researcher", DelegationID: "d-researcher",
		Constraints: constraints(func(c *authority.Constraints) { c.MaxAmount, c.Budget = usd("1000"), usd("5000") })}); err != nil {
		return
	}
	s.n.Check("researcher's max_amount, clamped", researcher.claims.Constraints.MaxAmount.String(), "500 USD")
	s.n.Check("researcher's budget, clamped", researcher.claims.Constraints.Budget.String(), "2000 USD")
	s.n.Say("authority", "clamped to the parent's: %s", describe(researcher.claims))
	s.n.Say("", "why: a child never holds more than its parent: looser limits are clamped (refused with --strict)")

	s.n.Scene("Hop 2: researcher → executor")
	s.refuse("widen scope", researcher.claims, "delegates to executor with scope finance:admin", authority.Request{Actor: "executor",
		Scopes: []string{"finance:admin"}}, false, `scope: scope "finance:admin" is not granted by the parent token`)
	s.refuse("cycle", researcher.claims, "delegates back to planner", authority.Request{Actor: "planner"}, false,
		`actor: actor "planner" is already in the chain agent:planner → agent:researcher (cycle)`)
	s.n.Say("researcher", "asks for executor: submit_expense only, travel only, max_amount 200 USD, scope finance:write")
	if executor, err = s.attenuate(researcher.claims, authority.Request{Actor: "executor", DelegationID: "d-executor",
		Scopes: []string{"finance:write"}, Constraints: constraints(func(c *authority.Constraints) {
			c.Tools, c.Categories, c.MaxAmount = authority.Only("submit_expense"), authority.Only("travel"), usd("200")
		})}); err != nil {
		return
	}
	s.n.Say("authority", "granted %s", describe(executor.claims))
	s.n.Check("executor's provenance", executor.claims.Provenance(), "user:alice → agent:planner → agent:researcher → agent:executor")
	return researcher, executor, nil
}

// constraints returns unrestricted constraints changed by f: a request that
// restricts only what f sets.
func constraints(f func(*authority.Constraints)) authority.Constraints {
	c := authority.Unrestricted()
	f(&c)
	return c
}

// refuse asks Attenuate for what parent does not hold and checks the refusal.
func (s *story) refuse(step string, parent *authority.Claims, what string, req authority.Request, strict bool, want string) {
	s.n.Say(parent.Chain()[len(parent.Chain())-1], "%s", what)
	_, err := authority.Attenuate(parent, req, authority.AttenuateOptions{Strict: strict})
	got := "granted"
	var ae *authority.AttenuationError
	if errors.As(err, &ae) {
		got = ae.Field + ": " + ae.Msg
	} else if err != nil {
		got = err.Error()
	}
	s.n.Check(step, got, want)
	s.n.Say("authority", "refused: %s", got)
}

// attenuate derives and signs a child delegation.
func (s *story) attenuate(parent *authority.Claims, req authority.Request) (token, error) {
	req.IssuedAt = s.env.Clock.Now()
	child, err := authority.Attenuate(parent, req, authority.AttenuateOptions{})
	if err != nil {
		return token{}, err
	}
	jwt, err := s.env.Mint(child)
	return token{claims: child, jwt: jwt}, err
}

// describe is a delegation in one line.
func describe(c *authority.Claims) string {
	k := c.Constraints
	return fmt.Sprintf("%s: tools [%s], categories [%s], max_amount %s, budget %s, scopes %s, parent %q",
		c.Provenance(), strings.Join(k.Tools.Items(), ", "), strings.Join(k.Categories.Items(), ", "), k.MaxAmount, k.Budget,
		strings.Join(c.Scopes, " "), c.ParentID)
}

// calls: the executor and the researcher act through the gateway.
func (s *story) calls(ctx context.Context, researcher, executor token) error {
	s.n.Scene("The executor acts, through the gateway")
	ex, refused, err := s.env.Connect(ctx, "finance", executor.jwt, "executor")
	if err != nil {
		return err
	}
	if refused != nil {
		return fmt.Errorf("executor: connect refused: %s", refused)
	}
	defer ex.Close()
	for _, c := range []struct {
		step, tool string
		args       map[string]any
		want       string
	}{
		{"executor submits 150 travel", "submit_expense", map[string]any{"amount": 150, "category": "travel"}, "allow"},
		{"executor submits 300 travel", "submit_expense", map[string]any{"amount": 300, "category": "travel"}, "deny max_amount"},
		{"executor submits 50 meals", "submit_expense", map[string]any{"amount": 50, "category": "meals"}, "deny category"},
		{"executor searches", "search_expenses", nil, "deny insufficient_scope"},
	} {
		if err := s.call(ctx, ex, c.step, c.tool, c.args, c.want); err != nil {
			return err
		}
	}
	s.upstreamView("executor's call")
	rs, refused, err := s.env.Connect(ctx, "finance", researcher.jwt, "researcher")
	if err != nil {
		return err
	}
	if refused != nil {
		return fmt.Errorf("researcher: connect refused: %s", refused)
	}
	defer rs.Close()
	if err := s.call(ctx, rs, "researcher searches", "search_expenses", nil, "allow"); err != nil {
		return err
	}
	s.upstreamView("researcher's call")
	return nil
}

func (s *story) call(ctx context.Context, a *demo.Agent, step, tool string, args map[string]any, want string) error {
	s.n.Say(a.Name, "calls %s %v", tool, args)
	out, err := a.Call(ctx, tool, args)
	if err != nil {
		return err
	}
	s.n.Expect(step, out, want)
	ev, err := s.env.NextAudit(ctx, demo.AuditOf("finance", tool, out))
	if err != nil {
		return err
	}
	s.n.Say("audit", "%s", demo.AuditLine(ev))
	return nil
}

// upstreamView narrates the downstream token of the upstream's last call.
func (s *story) upstreamView(step string) {
	calls := s.env.Upstreams["finance"].Calls()
	c := calls[len(calls)-1].Claims
	s.n.Say("upstream", "ran %s; the token it got: iss %s, aud %s, lifetime %v", calls[len(calls)-1].Tool, c.Issuer, c.Audience[0], c.ExpiresAt.Sub(c.IssuedAt))
	s.n.Say("upstream", "  provenance (act chain): %s", c.Provenance())
	s.n.Check("upstream's view of the "+step, c.Provenance(), map[bool]string{
		true:  "user:alice → agent:planner → agent:researcher → agent:executor → agent:legant-gateway",
		false: "user:alice → agent:planner → agent:researcher → agent:legant-gateway",
	}[strings.HasPrefix(step, "executor")])
}
