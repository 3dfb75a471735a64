package authority_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
)

// gen draws random constraints and actions over small universes, so that
// parents, requests and actions overlap often.
type gen struct{ r *rand.Rand }

var (
	genTools      = []string{"a", "b", "c", "d"}
	genResources  = []string{"https://r.example/1", "https://r.example/2", "HTTPS://R.EXAMPLE:443/1/", "urn:x"}
	genCategories = []string{"travel", "Travel", "FOOD", "food", "Straße", "strasse"}
	genCurrencies = []string{"", "USD", "EUR"}
	genZones      = []string{"UTC", "Europe/Paris", "America/New_York"}
)

func (g gen) set(universe []string) authority.Set {
	switch g.r.IntN(4) {
	case 0:
		return authority.AnyOf()
	case 1:
		return authority.Only()
	}
	var items []string
	for _, x := range universe {
		if g.r.IntN(2) == 0 {
			items = append(items, x)
		}
	}
	return authority.Only(items...)
}

func (g gen) decimal() authority.Decimal {
	units := []string{"0", "1", "499", "500", "1000"}
	fracs := []string{"", ".5", ".0000001", ".99"}
	return authority.MustDecimal(units[g.r.IntN(len(units))] + fracs[g.r.IntN(len(fracs))])
}

func (g gen) money() *authority.Money {
	if g.r.IntN(3) == 0 {
		return nil
	}
	return &authority.Money{Value: g.decimal(), Currency: genCurrencies[g.r.IntN(len(genCurrencies))]}
}

func (g gen) window(zone string) *authority.Window {
	if g.r.IntN(3) == 0 {
		return nil
	}
	var days []time.Weekday
	for d := range 7 {
		if g.r.IntN(2) == 0 {
			days = append(days, time.Weekday(d))
		}
	}
	clock := func() string { return fmt.Sprintf("%02d:%02d", g.r.IntN(24), 15*g.r.IntN(4)) }
	w, err := authority.NewWindow(zone, days, clock(), clock())
	if err != nil {
		panic(err)
	}
	return &w
}

func (g gen) constraints(zone string) authority.Constraints {
	c := authority.Constraints{
		Tools: g.set(genTools), Resources: g.set(genResources), Categories: g.set(genCategories),
		MaxAmount: g.money(), Budget: g.money(), Window: g.window(zone),
	}
	if g.r.IntN(2) == 0 {
		n := g.r.Int64N(20)
		c.MaxCalls = &n
	}
	return c
}

func (g gen) action() authority.Action {
	pick := func(u []string) string {
		if g.r.IntN(4) == 0 {
			return ""
		}
		return u[g.r.IntN(len(u))]
	}
	a := authority.Action{
		Tool: append(genTools, "e")[g.r.IntN(5)], Resource: pick(genResources), Category: pick(genCategories),
		At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(g.r.Int64N(int64(365 * 24 * time.Hour)))),
	}
	if g.r.IntN(4) != 0 {
		a.Amount = &authority.Money{Value: g.decimal(), Currency: genCurrencies[g.r.IntN(len(genCurrencies))]}
	}
	return a
}

// checkNarrower asserts that child grants nothing parent does not: for
// every action parent refuses, child refuses too; and the stateful limits
// (budget, max_calls, max_amount) are no larger.
func checkNarrower(t *testing.T, g gen, parent, child authority.Constraints, actions int) {
	t.Helper()
	for range actions {
		a := g.action()
		if parent.Allows(a) != nil && child.Allows(a) == nil {
			t.Fatalf("child allows what the parent denies\naction %+v\nparent %s\nchild  %s", a, show(parent), show(child))
		}
	}
	checkLimit(t, "max_amount", parent.MaxAmount, child.MaxAmount)
	checkLimit(t, "budget", parent.Budget, child.Budget)
	if parent.MaxCalls != nil && (child.MaxCalls == nil || *child.MaxCalls > *parent.MaxCalls) {
		t.Fatalf("max_calls %v widened to %v", *parent.MaxCalls, child.MaxCalls)
	}
	pn, err := parent.Normalize() // sets compare in canonical form
	if err != nil {
		t.Fatalf("parent does not normalize: %v", err)
	}
	for _, s := range [][2]authority.Set{{pn.Tools, child.Tools}, {pn.Resources, child.Resources}, {pn.Categories, child.Categories}} {
		if !s[1].Subset(s[0]) && !s[0].Unrestricted() {
			t.Fatalf("set %v widened to %v", s[0].Items(), s[1].Items())
		}
	}
}

func checkLimit(t *testing.T, name string, parent, child *authority.Money) {
	t.Helper()
	if parent == nil {
		return
	}
	if child == nil || child.Value.Cmp(parent.Value) > 0 || (parent.Currency != "" && child.Currency != parent.Currency) {
		t.Fatalf("%s %v widened to %v", name, parent, child)
	}
}

func show(c authority.Constraints) string {
	b, _ := json.Marshal(c)
	return string(b)
}

func TestAttenuateNeverWidens(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	children := 0
	for i := range 3000 {
		zone := genZones[g.r.IntN(len(genZones))]
		parent := rootClaims(t)
		parent.Constraints = g.constraints(zone)
		reqZone := zone
		if g.r.IntN(10) == 0 {
			reqZone = genZones[g.r.IntN(len(genZones))]
		}
		req := authority.Request{Actor: "executor", Constraints: g.constraints(reqZone)}
		child, err := authority.Attenuate(parent, req, authority.AttenuateOptions{})
		if err != nil {
			var ae *authority.AttenuationError
			if !errors.As(err, &ae) {
				t.Fatalf("iteration %d: unexpected error %v", i, err)
			}
			continue
		}
		children++
		checkNarrower(t, g, parent.Constraints, child.Constraints, 20)
		// A grandchild narrows the child in turn.
		grand, err := authority.Attenuate(child, authority.Request{Actor: "helper", Constraints: g.constraints(zone)}, authority.AttenuateOptions{})
		if err == nil {
			checkNarrower(t, g, child.Constraints, grand.Constraints, 10)
			checkNarrower(t, g, parent.Constraints, grand.Constraints, 10)
		}
	}
	if children < 2000 {
		t.Fatalf("only %d of 3000 requests produced a child: the generator is too narrow", children)
	}
}

func FuzzAttenuate(f *testing.F) {
	f.Add(`{"type":"legant_delegation","actions":["a","b"],"max_amount":{"value":"500","currency":"USD"}}`,
		`{"type":"legant_delegation","actions":["b","c"],"max_amount":{"value":"500.0000001"}}`, uint64(1))
	f.Add(`{"type":"legant_delegation","window":{"tz":"UTC","segments":[{"day":"fri","start":"22:00","end":"24:00"}]}}`,
		`{"type":"legant_delegation","window":{"tz":"UTC","segments":[{"day":"fri","start":"00:00","end":"23:00"}]}}`, uint64(2))
	f.Add(`{"type":"legant_delegation","categories":["Travel"],"budget":{"value":"10"},"max_calls":3}`,
		`{"type":"legant_delegation","categories":["TRAVEL","food"],"budget":{"value":"11","currency":"EUR"},"max_calls":4}`, uint64(3))
	f.Add(`{"type":"legant_delegation"}`, `{"type":"legant_delegation","locations":["https://r.example/1"]}`, uint64(4))
	f.Fuzz(func(t *testing.T, parentJSON, reqJSON string, seed uint64) {
		var pc, rc authority.Constraints
		if json.Unmarshal([]byte(parentJSON), &pc) != nil || json.Unmarshal([]byte(reqJSON), &rc) != nil {
			return
		}
		parent := rootClaims(t)
		parent.Constraints = pc
		child, err := authority.Attenuate(parent, authority.Request{Actor: "executor", Constraints: rc}, authority.AttenuateOptions{})
		if err != nil {
			return
		}
		checkNarrower(t, gen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}, pc, child.Constraints, 50)
	})
}
