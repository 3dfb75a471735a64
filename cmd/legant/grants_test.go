package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/keydir"
	"github.com/openlegant/legant/issuer/store/storetest"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

const grantsTestdata = "../../upstreams/grants/testdata/"

// TestLintGrants: lint dispatches on a grants file, prints file:line:col
// problems and fails; a clean file passes.
func TestLintGrants(t *testing.T) {
	reg := grantsTestdata + "legant.yaml"
	tests := []struct {
		args    []string
		want    string
		wantErr bool
	}{
		{[]string{"-f", grantsTestdata + "ok.grants.yaml", "--upstreams", reg}, "ok: 2 grant(s) against", false},
		{[]string{"-f", grantsTestdata + "ok.grants.yaml"}, "structure only", false},
		{[]string{"-f", grantsTestdata + "registry_errors.grants.yaml", "--upstreams", reg},
			`registry_errors.grants.yaml:8:28: grants[0].tools[1]: upstream "expenses" does not register tool "submit_expenses"`, true},
		{[]string{"-f", grantsTestdata + "syntax_errors.grants.yaml"}, `syntax_errors.grants.yaml:6:5: grants[0].agent: unknown field (did you mean "agents"?)`, true},
	}
	for _, tt := range tests {
		out, err := runLegant(t, append([]string{"lint"}, tt.args...)...)
		if (err != nil) != tt.wantErr || !strings.Contains(out, tt.want) {
			t.Errorf("lint %v: err %v, output:\n%s\nwant %q", tt.args, err, out, tt.want)
		}
	}
}

func TestInitGrants(t *testing.T) {
	path := filepath.Join(t.TempDir(), "legant.grants.yaml")
	if _, err := runLegant(t, "init", "grants", "-f", path); err != nil {
		t.Fatal(err)
	}
	if _, err := runLegant(t, "init", "grants", "-f", path); err == nil {
		t.Fatal("init grants overwrote an existing file without --force")
	}
	out, err := runLegant(t, "lint", "-f", path, "--upstreams", exampleRegistry, "--public-url", "https://gw.example")
	if err != nil || !strings.Contains(out, "ok: 2 grant(s)") {
		t.Fatalf("the starter does not lint clean: %v\n%s", err, out)
	}
}

// grantsFixture is a key directory, a registry and a grants file for apply.
type grantsFixture struct{ keys, registry, file, out string }

func newGrantsFixture(t *testing.T) grantsFixture {
	t.Helper()
	dir := t.TempDir()
	f := grantsFixture{keys: filepath.Join(dir, "keys"), registry: grantsTestdata + "legant.yaml",
		file: filepath.Join(dir, "legant.grants.yaml"), out: filepath.Join(dir, "tokens")}
	if _, err := keydir.Init(f.keys, keydir.Ed25519, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(grantsTestdata + "ok.grants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, string(b))
	return f
}

func (f grantsFixture) write(t *testing.T, data string) {
	t.Helper()
	if err := os.WriteFile(f.file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f grantsFixture) apply(t *testing.T, extra ...string) string {
	t.Helper()
	out, err := runLegant(t, append([]string{"apply", "-f", f.file, "--upstreams", f.registry, "--keys", f.keys, "--out", f.out}, extra...)...)
	if err != nil {
		t.Fatalf("apply %v: %v\n%s", extra, err, out)
	}
	return out
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

// TestApplyOffline: without --yes nothing is written; apply mints one token
// per grant; applying again changes nothing (byte for byte); removing a grant
// revokes its token in the signed feed and deletes its file.
func TestApplyOffline(t *testing.T) {
	f := newGrantsFixture(t)
	if out := f.apply(t); !strings.Contains(out, "+ mint     alice-travel") || !strings.Contains(out, "not applied") {
		t.Fatalf("dry run:\n%s", out)
	}
	if _, err := os.Stat(f.out); !os.IsNotExist(err) {
		t.Fatalf("dry run wrote %s: %v", f.out, err)
	}
	f.apply(t, "--yes")
	first := snapshot(t, f.out)
	if len(first) != 3 || first["alice-travel.jwt"] == "" || first["bob-files.jwt"] == "" {
		t.Fatalf("after apply: %v", keysOf(first))
	}
	if out := f.apply(t, "--yes"); !strings.Contains(out, "no changes") {
		t.Fatalf("second apply:\n%s", out)
	}
	if diff := fmt.Sprint(snapshot(t, f.out)); diff != fmt.Sprint(first) {
		t.Fatal("second apply changed the directory")
	}

	ks, err := keydir.Load(f.keys)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := authority.Verify(strings.TrimSpace(first["bob-files.jwt"]), ks, authority.VerifyOptions{Issuer: "https://gw.example", Audience: "https://gw.example/mcp/files", RequireActor: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(grantsTestdata + "ok.grants.yaml")
	f.write(t, strings.Split(string(b), "  - name: bob-files")[0])
	if out := f.apply(t, "--yes"); !strings.Contains(out, "- revoke   bob-files") || !strings.Contains(out, "revoked bob-files") {
		t.Fatalf("apply after removal:\n%s", out)
	}
	after := snapshot(t, f.out)
	if _, ok := after["bob-files.jwt"]; ok || after["alice-travel.jwt"] != first["alice-travel.jwt"] {
		t.Fatalf("after removal: %v", keysOf(after))
	}
	feed, err := revfeed.Verify(strings.TrimSpace(after[grantsFeedFile]), ks, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var set revfeed.Set
	set.Replace(feed.Entries())
	if _, revoked := set.Revoked(bob); !revoked {
		t.Fatalf("bob's token is not in the feed: %+v", feed)
	}
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestApplyRevokesThroughTheStore: a gateway on the store accepts a token
// apply minted; once its grant is removed and applied again, the gateway
// refuses it (401), learning the revocation from the store.
func TestApplyRevokesThroughTheStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		k := newKillRig(t)
		opts := b.Options(t)
		r := k.replica(t, opts)
		storeArgs := []string{"--data-dir", opts.DataDir, "--key-secret-file", k.secretFile}
		if b.Postgres() {
			storeArgs = []string{"--database-url", opts.DatabaseURL, "--key-secret-file", k.secretFile}
		}
		f := grantsFixture{keys: k.keysDir, registry: k.registry, file: filepath.Join(k.dir, "legant.grants.yaml"), out: filepath.Join(k.dir, "tokens")}
		grant := func(name, user string) string {
			return fmt.Sprintf("  - {name: %s, user: %s, agents: [planner], upstream: %s, tools: [slow]}\n", name, user, killSlug)
		}
		head := "version: 1\nissuer: " + killIssuer + "\ngrants:\n"
		f.write(t, head+grant("alice-work", "alice")+grant("bob-work", "bob"))
		f.apply(t, append([]string{"--yes", "--public-url", killPublic}, storeArgs...)...)
		tokens := snapshot(t, f.out)
		alice, bob := strings.TrimSpace(tokens["alice-work.jwt"]), strings.TrimSpace(tokens["bob-work.jwt"])
		for _, tok := range []string{alice, bob} {
			if got := initStatus(t, r, tok); got != http.StatusOK {
				t.Fatalf("minted token refused: %d", got)
			}
		}
		f.write(t, head+grant("alice-work", "alice"))
		out := f.apply(t, append([]string{"--yes", "--public-url", killPublic}, storeArgs...)...)
		if !strings.Contains(out, "revoked bob-work") {
			t.Fatalf("apply:\n%s", out)
		}
		eventually(t, "the gateway to refuse the removed grant's token", func() bool { return initStatus(t, r, bob) == http.StatusUnauthorized })
		if got := initStatus(t, r, alice); got != http.StatusOK {
			t.Fatalf("the kept grant's token: %d", got)
		}
		d, err := r.w.st.GetDelegation(context.Background(), mustClaims(t, bob).DelegationID)
		if err != nil || d.RevokedVersion == 0 || d.User != "bob" {
			t.Fatalf("delegation in the store: %+v, %v", d, err)
		}
	})
}

// mustClaims reads a token's claims without verifying it (test helper).
func mustClaims(t *testing.T, tok string) *authority.Claims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	var c authority.Claims
	if err := decodeSegment(parts[1], &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// TestWhoCanGrantsMatchesTheTokens: for a table of calls, who-can answering
// from the grants file gives, grant by grant, the decision policy.Decide
// makes with the verified token apply minted from that grant, and who-can
// over the token directory agrees.
func TestWhoCanGrantsMatchesTheTokens(t *testing.T) {
	f := newGrantsFixture(t)
	f.apply(t, "--yes")
	ks, err := keydir.Load(f.keys)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := upstreams.Load(f.registry, upstreams.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Calls fall inside the tokens' lives (720h from now): the next
	// Wednesday at 10:00 in Paris, that evening, and the Saturday after.
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().In(paris).AddDate(0, 0, 1)
	for day.Weekday() != time.Wednesday {
		day = day.AddDate(0, 0, 1)
	}
	at := func(d, h, m int) string {
		return time.Date(day.Year(), day.Month(), day.Day()+d, h, m, 0, 0, paris).Format(time.RFC3339)
	}
	wed10, sat10, wed1830 := at(0, 10, 0), at(3, 10, 0), at(0, 18, 30)
	tests := []struct {
		upstream, tool, amount, category, resource, at string
		wantAllowed                                    []string
	}{
		{"expenses", "submit_expense", "300", "travel", "", wed10, []string{"alice-travel"}},
		{"expenses", "submit_expense", "500", "Travel", "", wed10, []string{"alice-travel"}},
		{"expenses", "submit_expense", "700", "travel", "", wed10, nil},
		{"expenses", "submit_expense", "300", "meals", "", wed10, nil},
		{"expenses", "submit_expense", "300", "travel", "", sat10, nil},
		{"expenses", "submit_expense", "300", "travel", "", wed1830, nil}, // after hours
		{"expenses", "list_expenses", "", "", "", wed10, []string{"alice-travel"}},
		{"expenses", "delete_all", "", "", "", wed10, nil},
		{"files", "read_file", "", "", "/srv/reports/q1.pdf", wed10, []string{"bob-files"}},
		{"files", "read_file", "", "", "/srv/reports/../secrets", wed10, nil},
		{"files", "read_file", "", "", "/etc/passwd", wed10, nil},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s/%s/%s%s%s@%s", tt.upstream, tt.tool, tt.amount, tt.category, tt.resource, tt.at)
		t.Run(name, func(t *testing.T) {
			args := []string{"--registry", f.registry, "--upstream", tt.upstream, "--tool", tt.tool, "--at", tt.at, "--all"}
			for flag, v := range map[string]string{"--amount": tt.amount, "--category": tt.category, "--resource": tt.resource} {
				if v != "" {
					args = append(args, flag, v)
				}
			}
			if tt.amount != "" {
				args = append(args, "--currency", "USD")
			}
			fromGrants, _ := runLegant(t, append([]string{"who-can", "--grants", f.file}, args...)...)
			fromTokens, _ := runLegant(t, append([]string{"who-can", "--dir", f.out, "--keys", f.keys, "--issuer", "https://gw.example", "--public-url", "https://gw.example"}, args...)...)
			up, _ := reg.Lookup(tt.upstream)
			b, _ := up.Tool(tt.tool)
			at, _ := time.Parse(time.RFC3339, tt.at)
			call, err := policy.SampleCall(b, tt.tool, policy.Sample{Amount: tt.amount, Currency: map[bool]string{true: "USD"}[tt.amount != ""], Category: tt.category, Resource: tt.resource}, at)
			if err != nil {
				t.Fatal(err)
			}
			var allowed []string
			for _, g := range []string{"alice-travel", "bob-files"} {
				raw, _ := os.ReadFile(filepath.Join(f.out, g+".jwt"))
				claims, err := authority.Verify(strings.TrimSpace(string(raw)), ks, authority.VerifyOptions{Issuer: "https://gw.example", Audience: up.InboundAudience, RequireActor: true}, at)
				if err != nil {
					continue // another upstream's token: the gateway refuses it at the audience
				}
				d := policy.Decide(claims, b, call)
				if d.Allow {
					allowed = append(allowed, g)
				}
				verdict := "ALLOW"
				if !d.Allow {
					verdict = "DENY " + string(d.Reason)
				}
				if !strings.Contains(fromGrants, verdict+"  "+g) && !strings.Contains(fromGrants, verdict+" "+g) {
					t.Errorf("who-can --grants says otherwise than Decide (%s %s):\n%s", verdict, g, fromGrants)
				}
			}
			if fmt.Sprint(allowed) != fmt.Sprint(tt.wantAllowed) {
				t.Errorf("Decide with the minted tokens allowed %v, want %v", allowed, tt.wantAllowed)
			}
			want := fmt.Sprintf("%d of", len(tt.wantAllowed))
			if !strings.Contains(fromGrants, want) || !strings.Contains(fromTokens, want) {
				t.Errorf("want %q tokens allowed\n--grants:\n%s\n--dir:\n%s", want, fromGrants, fromTokens)
			}
		})
	}
}

// TestExplainGrant: explain --grants decides one call with a grant.
func TestExplainGrant(t *testing.T) {
	f := newGrantsFixture(t)
	base := []string{"explain", "--grants", f.file, "--grant", "alice-travel", "--registry", f.registry, "--tool", "submit_expense", "--at", nextWeekday(time.Wednesday, 10)}
	out, err := runLegant(t, append(base, "--args", `{"amount":700,"category":"travel"}`)...)
	if err == nil || !strings.Contains(out, "denied: amount 700 exceeds max_amount 500") || !strings.Contains(out, "user:alice → agent:planner → agent:executor") {
		t.Fatalf("explain 700: %v\n%s", err, out)
	}
	if out, err := runLegant(t, append(base, "--args", `{"amount":70,"category":"travel"}`)...); err != nil || !regexp.MustCompile(`decision:\s+allow`).MatchString(out) {
		t.Fatalf("explain 70: %v\n%s", err, out)
	}
}

// nextWeekday is the next day d after today at hour h in Paris, RFC 3339.
func nextWeekday(d time.Weekday, h int) string {
	paris, _ := time.LoadLocation("Europe/Paris")
	day := time.Now().In(paris).AddDate(0, 0, 1)
	for day.Weekday() != d {
		day = day.AddDate(0, 0, 1)
	}
	return time.Date(day.Year(), day.Month(), day.Day(), h, 0, 0, 0, paris).Format(time.RFC3339)
}
