package grants_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/upstreams"
	"github.com/openlegant/legant/upstreams/grants"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func registry(t *testing.T) *upstreams.Registry {
	t.Helper()
	reg, err := upstreams.Load("testdata/legant.yaml", upstreams.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// lint is what `legant lint -f FILE --upstreams testdata/legant.yaml` prints.
func lint(t *testing.T, reg *upstreams.Registry, path string) string {
	f, err := grants.Load(path)
	var verrs upstreams.ValidationErrors
	if errors.As(err, &verrs) {
		return verrs.Error() + "\n"
	}
	if err != nil {
		t.Fatal(err)
	}
	if errs := f.Check(reg); len(errs) > 0 {
		return errs.Error() + "\n"
	}
	return ""
}

// TestLintGolden: every testdata/*.grants.yaml is linted against
// testdata/legant.yaml and compared with its .golden file (go test -update
// rewrites them).
func TestLintGolden(t *testing.T) {
	reg := registry(t)
	files, _ := filepath.Glob("testdata/*.grants.yaml")
	if len(files) < 3 {
		t.Fatalf("testdata has %d grants files", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			got := lint(t, reg, file)
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("lint %s (-want +got):\n%s", file, diff)
			}
		})
	}
}

func TestStarterIsClean(t *testing.T) {
	f, err := grants.Parse("starter", []byte(grants.Starter))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := upstreams.Load("../../examples/upstreams/legant.yaml", upstreams.Options{PublicURL: "https://gw.example"})
	if err != nil {
		t.Fatal(err)
	}
	if errs := f.Check(reg); len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(f.Grants) != 2 || f.Grants[0].Constraints.MaxAmount.String() != "500 USD" {
		t.Fatalf("starter grants: %+v", f.Grants)
	}
}

func TestSniff(t *testing.T) {
	reg, _ := os.ReadFile("testdata/legant.yaml")
	gr, _ := os.ReadFile("testdata/ok.grants.yaml")
	if grants.Sniff(reg) || !grants.Sniff(gr) {
		t.Fatal("Sniff confuses a registry and a grants file")
	}
}

// TestPlan: a fresh state mints every grant; recording what was minted makes
// the next plan empty; a changed grant is replaced, an expired one renewed,
// a removed one revoked.
func TestPlan(t *testing.T) {
	reg := registry(t)
	f, err := grants.Load("testdata/ok.grants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	p, err := grants.PlanApply(f, reg, grants.State{}, now)
	if err != nil {
		t.Fatal(err)
	}
	st := grants.State{Version: grants.StateVersion, Grants: map[string]grants.Minted{}}
	for _, c := range p.Changes {
		if c.Action != grants.ActionMint {
			t.Fatalf("fresh plan: %s %s", c.Action, c.Name)
		}
		claims, links, err := c.Spec.Claims(now)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(links); got != len(c.Grant.Agents) || claims.DelegationID != links[got-1].ID || claims.Chain().String() == "" {
			t.Fatalf("links %+v for %+v", links, claims)
		}
		st.Grants[c.Name] = grants.Minted{Digest: c.Spec.Digest(), JTI: claims.ID, DelegationID: claims.DelegationID, ExpiresAt: claims.ExpiresAt}
	}
	if p, _ = grants.PlanApply(f, reg, st, now); !p.Empty() {
		t.Fatalf("second plan is not empty:\n%s", p)
	}
	// expiry → renew
	if p, _ = grants.PlanApply(f, reg, st, now.Add(721*time.Hour)); p.Changes[0].Action != grants.ActionRenew {
		t.Fatalf("after expiry:\n%s", p)
	}
	// change → replace; removal → revoke
	f.Grants[0].Constraints.MaxAmount = &authority.Money{Value: mustDec(t, "600"), Currency: "USD"}
	f.Grants = f.Grants[:1]
	p, _ = grants.PlanApply(f, reg, st, now)
	got := []grants.Action{}
	for _, c := range p.Changes {
		got = append(got, c.Action)
	}
	if diff := cmp.Diff([]grants.Action{grants.ActionReplace, grants.ActionRevoke}, got); diff != "" {
		t.Fatalf("actions (-want +got):\n%s\n%s", diff, p)
	}
	if !strings.Contains(p.String(), "- revoke   bob-files") {
		t.Fatalf("diff:\n%s", p)
	}
}

func mustDec(t *testing.T, s string) authority.Decimal {
	d, err := authority.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"ok", "syntax_errors", "registry_errors"} {
		b, _ := os.ReadFile("testdata/" + name + ".grants.yaml")
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := grants.Parse("fuzz.yaml", data)
		if (g == nil) == (err == nil) {
			t.Fatalf("Parse returned %v and %v", g, err)
		}
	})
}
