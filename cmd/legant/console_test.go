package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/examples/killswitch/slowtool"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
)

// browser is a console user: a cookie jar on one replica's admin listener.
type browser struct {
	base string
	hc   *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// logIn opens the console of r with the admin token, as a person would.
func logIn(t *testing.T, k *killRig, r *replica) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{base: r.admin.BaseURL, hc: &http.Client{Jar: jar}}
	body := b.get(t, "/console/login")
	tok, err := os.ReadFile(k.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.hc.PostForm(b.base+"/console/login", url.Values{"csrf": {csrfField.FindStringSubmatch(body)[1]},
		"token": {strings.TrimSpace(string(tok))}, "name": {"secops@example"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	body = b.get(t, "/console/sessions")
	m := csrfField.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "secops@example") {
		t.Fatalf("not logged in: %s", body)
	}
	b.csrf = m[1]
	return b
}

func (b *browser) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := b.hc.Get(b.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

// streamed is an event of the console's stream.
type streamed struct {
	Seq      int64  `json:"seq"`
	Kind     string `json:"kind"`
	Decision string `json:"decision"`
	Session  string `json:"session"`
	Client   string `json:"client"`
	Tool     string `json:"tool"`
}

// stream opens the console's event stream (only new events) and delivers
// them on the channel until the test ends.
func (b *browser) stream(t *testing.T) <-chan streamed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/console/events?backlog=0", nil)
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events = %d", resp.StatusCode)
	}
	out := make(chan streamed, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var e streamed
				if json.Unmarshal([]byte(d), &e) == nil {
					select {
					case out <- e:
					default:
					}
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-done })
	return out
}

// await reads the stream until an event satisfies cond.
func await(t *testing.T, ch <-chan streamed, what string, cond func(streamed) bool) streamed {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-ch:
			if cond(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s in the console stream", what)
		}
	}
}

// consoleKillMidLoop: an agent loops through replica a; a security engineer
// watches its decisions in the console of replica b (the same one for a
// single replica) and clicks Kill on its session while the long call runs.
func consoleKillMidLoop(t *testing.T, k *killRig, a, b *replica) {
	br := logIn(t, k, b)
	events := br.stream(t)
	tok := k.token(t, "jti-"+t.Name())
	progress := make(chan string, 64)
	cs := connectAgent(t, a, tok, progress)
	results := agentLoop(cs, 2)
	for i := range 2 {
		if r := within(t, results, "a short call"); r.err != nil {
			t.Fatalf("call %d: %v", i, r.err)
		}
		// Each allowed call made on replica a appears in b's console.
		await(t, events, "an allow decision", func(e streamed) bool {
			return e.Kind == "allow" && e.Session == cs.ID() && e.Tool == slowtool.ToolName
		})
	}
	waitUpstream(t, k.up, "the long call to start", func(s slowtool.Stats) bool { return s.Started == 3 })
	for p := ""; p != "2"; p = within(t, progress, "the long call's progress") {
	}
	if page := br.get(t, "/console/sessions"); !strings.Contains(page, cs.ID()) {
		t.Fatalf("the Sessions view lacks the agent's session %s", cs.ID())
	}

	clicked := time.Now()
	resp, err := br.hc.PostForm(br.base+"/console/kill", url.Values{"csrf": {br.csrf}, "kind": {"session"},
		"value": {cs.ID()}, "reason": {"exfiltration attempt"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := within(t, results, "the in-flight call to end")
	t.Logf("kill latency, console POST to the agent's error: %v", time.Since(clicked))
	assertKilled(t, r.err)
	if !strings.Contains(string(page), "Killed session="+cs.ID()) {
		t.Errorf("the page after the kill does not confirm it:\n%s", page)
	}
	kill := await(t, events, "the kill event", func(e streamed) bool { return e.Kind == "kill" && e.Session == cs.ID() && e.Decision == "kill" })
	if kill.Client != "admin:console:secops@example" {
		t.Errorf("kill event client = %q, want admin:console:secops@example", kill.Client)
	}
	se, err := a.w.st.GetSession(context.Background(), cs.ID())
	if err != nil || se.State != store.SessionKilled || se.EndReason != "exfiltration attempt" {
		t.Errorf("stored session = %+v, %v; want killed with the reason", se, err)
	}
}

// TestConsoleKill: one gateway (SQLite); kill from its console.
func TestConsoleKill(t *testing.T) {
	k := newKillRig(t)
	a := k.replica(t, store.Options{DataDir: t.TempDir()})
	consoleKillMidLoop(t, k, a, a)
}

// TestConsoleAcrossReplicas: two replicas share PostgreSQL; the agent works
// through A, the console is B's: A's decisions stream in B's console, and
// B's Kill ends A's in-flight call.
func TestConsoleAcrossReplicas(t *testing.T) {
	pg := postgresBackend(t)
	k := newKillRig(t)
	opts := pg.Options(t)
	a := k.replica(t, opts)
	b := k.replica(t, opts)
	consoleKillMidLoop(t, k, a, b)
}

// TestConsoleAccountLogin: an issuer account with the admin role signs in to
// the console with its password (the wired AccountAuthenticator); an
// ordinary account is refused.
func TestConsoleAccountLogin(t *testing.T) {
	k := newKillRig(t)
	a := k.replica(t, store.Options{DataDir: t.TempDir()})
	ctx := context.Background()
	hash, err := oauth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{{Name: "carol", PasswordHash: hash, Admin: true}, {Name: "dave", PasswordHash: hash}} {
		if err := a.w.st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	login := func(user string) (int, string) {
		jar, _ := cookiejar.New(nil)
		b := &browser{base: a.admin.BaseURL, hc: &http.Client{Jar: jar}}
		body := b.get(t, "/console/login")
		resp, err := b.hc.PostForm(b.base+"/console/login", url.Values{"csrf": {csrfField.FindStringSubmatch(body)[1]},
			"username": {user}, "password": {"correct horse battery"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, b.get(t, "/console/sessions")
	}
	if status, page := login("carol"); status != http.StatusOK || !strings.Contains(page, "user:carol") {
		t.Fatalf("admin account login: %d, page names the actor: %v", status, strings.Contains(page, "user:carol"))
	}
	if status, _ := login("dave"); status != http.StatusUnauthorized {
		t.Fatalf("ordinary account login: %d, want 401", status)
	}
}
