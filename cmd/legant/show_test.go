package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPipeline runs mint | attenuate --parent - | show - in-process.
func TestPipeline(t *testing.T) {
	keys := initKeys(t)
	root, err := runCmd(t, "", mintArgs(keys, "--tool", "submit_expense", "--category", "Travel", "--max-amount", "500",
		"--currency", "USD", "--budget", "1000", "--max-calls", "10", "--window", "mon-fri 09:00-17:00 Europe/Paris")...)
	if err != nil {
		t.Fatal(err)
	}
	child, err := runCmd(t, root, "attenuate", "--keys", keys, "--parent", "-", "--agent", "executor", "--max-amount", "200")
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, child, "show", "--keys", keys, "-")
	if err != nil {
		t.Fatal(err)
	}
	flat := collapseSpaces(out)
	for _, want := range []string{
		"provenance   user:alice → agent:planner → agent:executor",
		"issuer       https://issuer.example (not checked)",
		"audience     https://gw.example/mcp/expenses (not checked)",
		"scopes       expenses:read expenses:write",
		"tools       submit_expense",
		"resources   any",
		"categories  travel",
		"max_amount  200 USD",
		"budget      1000 USD",
		"max_calls   10",
		"window      mon 09:00-17:00, tue 09:00-17:00, wed 09:00-17:00, thu 09:00-17:00, fri 09:00-17:00 (Europe/Paris)",
		"expires ",
	} {
		if !strings.Contains(flat, collapseSpaces(want)) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}
}

// collapseSpaces makes the table's column widths irrelevant.
func collapseSpaces(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func TestShowJSON(t *testing.T) {
	keys := initKeys(t)
	tok, err := runCmd(t, "", mintArgs(keys, "--agent", "executor", "--tool", "t")...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, "", "show", "--keys", keys, "--json", "--issuer", mintIssuer, "--aud", "HTTPS://GW.example/mcp/expenses", strings.TrimSpace(tok))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Provenance      string   `json:"provenance"`
		Principal       string   `json:"principal"`
		Chain           []string `json:"chain"`
		IssuerChecked   bool     `json:"issuer_checked"`
		AudienceChecked bool     `json:"audience_checked"`
		Claims          struct {
			Sub     string            `json:"sub"`
			Act     map[string]any    `json:"act"`
			Details []json.RawMessage `json:"authorization_details"`
		} `json:"claims"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Provenance != "user:alice → agent:planner → agent:executor" || got.Principal != "alice|planner|executor" ||
		!cmp.Equal(got.Chain, []string{"planner", "executor"}) || !got.IssuerChecked || !got.AudienceChecked ||
		got.Claims.Sub != "alice" || got.Claims.Act["sub"] != "executor" || len(got.Claims.Details) != 1 {
		t.Fatalf("show --json:\n%s", out)
	}
}

func TestShowRefuses(t *testing.T) {
	keys := initKeys(t)
	tok, err := runCmd(t, "", mintArgs(keys)...)
	if err != nil {
		t.Fatal(err)
	}
	tok = strings.TrimSpace(tok)
	tests := []struct {
		name    string
		args    []string
		mention string
	}{
		{"wrong issuer", []string{"--issuer", "https://evil.example", tok}, "wrong issuer"},
		{"wrong audience", []string{"--aud", "https://gw.example/mcp/other", tok}, "wrong audience"},
		{"tampered", []string{tok + "x"}, "token not valid"},
		{"other keys", []string{"--keys", initKeys(t), tok}, "unknown signing key"},
		{"garbage", []string{"not-a-token"}, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"show", "--keys", keys}, tt.args...)
			if _, err := runCmd(t, "", args...); err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.mention)
			}
		})
	}
	if _, err := runCmd(t, "", "show", "--keys", keys); err == nil {
		t.Fatal("show without a token succeeded")
	}
}
