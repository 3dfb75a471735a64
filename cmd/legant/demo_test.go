package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/issuer/store/storetest/freeport"
)

func loopbackAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr() // below the ephemeral range
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestDemoPortTakenTouchesNothing: a second demo whose port is taken fails
// before it writes anything, so the running demo's registry survives.
func TestDemoPortTakenTouchesNothing(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	registry := filepath.Join(dir, "demo", "legant.yaml")
	if err := os.MkdirAll(filepath.Dir(registry), 0o700); err != nil {
		t.Fatal(err)
	}
	const running = "# the running demo's registry\n"
	if err := os.WriteFile(registry, []byte(running), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"gateway port": {"--listen", taken.Addr().String(), "--admin-listen", loopbackAddr(t)},
		"admin port":   {"--listen", loopbackAddr(t), "--admin-listen", taken.Addr().String()},
	} {
		_, err := runCmd(t, "", append([]string{"demo", "--data-dir", dir}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "cannot listen on "+taken.Addr().String()) {
			t.Errorf("%s taken: err = %v", name, err)
		}
		if got, _ := os.ReadFile(registry); string(got) != running {
			t.Errorf("%s taken: the registry was rewritten:\n%s", name, got)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%s taken: the data directory holds %d entries, want only demo/", name, len(entries))
		}
	}
}

// TestDemoFollowUpCommands: with --data-dir the printed commands point at
// that directory, and the printed `legant sessions` / `legant kill` reach
// the demo's admin listener with its token.
func TestDemoFollowUpCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my-demo")
	admin := loopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	cmd := newDemoCmd()
	cmd.SetArgs([]string{"--data-dir", dir, "--listen", loopbackAddr(t), "--admin-listen", admin})
	cmd.SetOut(out)
	cmd.SetErr(&syncBuffer{})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "Audit trail"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the demo printed no instructions:\n%s", out.String())
		}
	}
	text := out.String()
	if strings.Contains(text, ".legant") {
		t.Errorf("the instructions still point at .legant:\n%s", text)
	}
	for _, want := range []string{"legant show --keys " + filepath.Join(dir, "keys"), "legant audit tail --data-dir " + dir,
		"--admin http://" + admin + " --admin-token-file " + filepath.Join(dir, "admin-token")} {
		if !strings.Contains(text, want) {
			t.Errorf("the instructions lack %q:\n%s", want, text)
		}
	}
	printed := func(prefix string) []string {
		for line := range strings.Lines(text) {
			if l := strings.TrimSpace(line); strings.HasPrefix(l, prefix) {
				return strings.Fields(strings.TrimSpace(strings.Split(l, "--session")[0]))[1:]
			}
		}
		t.Fatalf("no %q line:\n%s", prefix, text)
		return nil
	}
	if got, err := runCmd(t, "", printed("legant sessions")...); err != nil {
		t.Errorf("the printed legant sessions: %v\n%s", err, got)
	}
	kill := append(printed("legant kill"), "--session", "no-such-session", "--reason", "test")
	if _, err := runCmd(t, "", kill...); err == nil || !strings.Contains(err.Error(), "no such session") {
		t.Errorf("the printed legant kill reached no admin API: %v", err)
	}
	token, err := os.ReadFile(filepath.Join(dir, "demo", "token"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := runCmd(t, "", "show", "--keys", filepath.Join(dir, "keys"), strings.TrimSpace(string(token))); err != nil || !strings.Contains(got, "alice") {
		t.Errorf("the printed legant show: %v\n%s", err, got)
	}
}
