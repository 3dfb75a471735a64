package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeResults writes one server-<scenario>-<timestamp>/checks.json per entry.
func writeResults(t *testing.T, scenarios map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, checks := range scenarios {
		d := filepath.Join(dir, "server-"+name+"-2026-12-04T20-46-15-115Z")
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "checks.json"), []byte(checks), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not a scenario directory: ignored.
	if err := os.WriteFile(filepath.Join(dir, "server-notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestWriteDiff(t *testing.T) {
	direct := writeResults(t, map[string]string{
		"ping": `[{"id":"ping","status":"SUCCESS"}]`,
		"http-header-validation": `[
			{"id":"sep-2243-server-reject-error-code","status":"SUCCESS"},
			{"id":"sep-2243-server-reject-error-code","status":"SUCCESS"},
			{"id":"other","status":"FAILURE","errorMessage":"direct fails too"}]`,
		"caching": `[{"id":"c","status":"SUCCESS"}]`,
	})
	gateway := writeResults(t, map[string]string{
		"ping": `[{"id":"ping","status":"SUCCESS"}]`,
		"http-header-validation": `[
			{"id":"sep-2243-server-reject-error-code","status":"SUCCESS"},
			{"id":"sep-2243-server-reject-error-code","status":"WARNING","errorMessage":"Expected -32020,\n got -32600.","description":"missing Mcp-Method"},
			{"id":"other","status":"FAILURE","errorMessage":"a different text is no difference"},
			{"id":"extra","status":"FAILURE","errorMessage":"only here"}]`,
		"dns-rebinding-protection": `[{"id":"d","status":"SUCCESS"}]`,
	})
	d, err := readRun(direct)
	if err != nil {
		t.Fatal(err)
	}
	g, err := readRun(gateway)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	n := writeDiff(&b, d, g)
	want := `scenario caching: direct 1 passed 0 failed, gateway not run
  c: direct SUCCESS, gateway absent
scenario dns-rebinding-protection: direct not run, gateway 1 passed 0 failed
  d: direct absent, gateway SUCCESS
scenario http-header-validation: direct 2 passed 1 failed, gateway 1 passed 2 failed
  sep-2243-server-reject-error-code#2: direct SUCCESS, gateway WARNING: Expected -32020, got -32600. [missing Mcp-Method]
  extra: direct absent, gateway FAILURE: only here
`
	if b.String() != want {
		t.Errorf("diff:\n%s\nwant:\n%s", b.String(), want)
	}
	if n != 3 {
		t.Errorf("differing scenarios = %d, want 3", n)
	}

	b.Reset()
	if n := writeDiff(&b, d, d); n != 0 || b.Len() != 0 {
		t.Errorf("a run against itself: %d differing, output %q", n, b.String())
	}
}

func TestReadRunErrors(t *testing.T) {
	if _, err := readRun(t.TempDir()); err == nil {
		t.Error("empty directory: want an error")
	}
	bad := writeResults(t, map[string]string{"ping": `{not json`})
	if _, err := readRun(bad); err == nil {
		t.Error("malformed checks.json: want an error")
	}
	if _, err := readRun(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing directory: want an error")
	}
}
