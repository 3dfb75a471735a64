package upstreams

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openlegant/legant/policy"
)

func TestParseApproval(t *testing.T) {
	const doc = `version: 1
upstreams:
  - slug: bank
    url: https://bank.example/mcp
    tools:
      wire: {scope: bank:wire, approval: {from: [bob, carol], ttl: 15m}}
      refund: {scope: bank:wire, approval: {from: [bob]}}
      balance: {scope: bank:read}
`
	reg, err := Parse("r.yaml", []byte(doc), Options{PublicURL: "https://gw.example"})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := reg.Lookup("bank")
	got := map[string]*policy.Approval{}
	for _, name := range []string{"wire", "refund", "balance"} {
		b, _ := up.Tool(name)
		got[name] = b.Approval
	}
	want := map[string]*policy.Approval{
		"wire":    {From: []string{"bob", "carol"}, TTL: 15 * time.Minute},
		"refund":  {From: []string{"bob"}},
		"balance": nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("approvals (-want +got):\n%s", diff)
	}
	if d := got["refund"].Lifetime(); d != policy.DefaultApprovalTTL {
		t.Errorf("refund's lifetime = %s, want the default %s", d, policy.DefaultApprovalTTL)
	}
}

func TestParseApprovalErrors(t *testing.T) {
	const doc = `version: 1
upstreams:
  - slug: bank
    url: https://bank.example/mcp
    tools:
      a: {scope: s, approval: {}}
      b: {scope: s, approval: {from: []}}
      c: {scope: s, approval: {from: [bob, bob, "a b"]}}
      d: {scope: s, approval: {from: [bob], ttl: 48h}}
      e: {scope: s, approval: {from: [bob], ttl: -1s}}
      f: {scope: s, honeytool: true, approval: {from: [bob]}}
      g: {scope: s, approval: {from: [bob], approvers: 2}}
`
	_, err := Parse("r.yaml", []byte(doc), Options{PublicURL: "https://gw.example"})
	want := []string{
		"r.yaml:6:31: upstreams[0].tools.a.approval.from: must name at least one approver (a user other than the caller)",
		"r.yaml:7:31: upstreams[0].tools.b.approval.from: must name at least one approver (a user other than the caller)",
		`r.yaml:8:44: upstreams[0].tools.c.approval.from[1]: duplicate approver "bob"`,
		`r.yaml:8:49: upstreams[0].tools.c.approval.from[2]: "a b" is not a user (a token subject: printable ASCII without spaces)`,
		"r.yaml:9:50: upstreams[0].tools.d.approval.ttl: must be at most 24h0m0s",
		"r.yaml:10:50: upstreams[0].tools.e.approval.ttl: must be positive",
		"r.yaml:11:48: upstreams[0].tools.f.approval: a honeytool is never forwarded: it cannot need an approval",
		"r.yaml:12:45: upstreams[0].tools.g.approval.approvers: unknown field (known: from, ttl)",
	}
	if diff := cmp.Diff(want, splitLines(err)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
