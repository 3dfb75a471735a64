// Command killswitch is a narrated demo of Legant's mid-loop kill: an agent
// works through the gateway, calling a slow tool again and again; a security
// engineer lists the live sessions and kills the agent's while a call runs.
// The running call is cut (the agent gets a JSON-RPC error, reason
// "killed"), the upstream stops it and nothing more reaches it, the token is
// refused from then on, and the audit chain records who killed what and why.
//
//	go run ./examples/killswitch
//
// Everything runs in this process on loopback ports, with the embedded
// SQLite store in a temporary directory; docs/KILL.md explains each step.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/examples/killswitch/slowtool"
	"github.com/openlegant/legant/gateway/admin"
	"github.com/openlegant/legant/issuer/store"
)

func main() {
	quick := flag.Int("quick", 2, "short calls the agent makes before the long one")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, *quick); err != nil {
		fmt.Fprintln(os.Stderr, "killswitch:", err)
		os.Exit(1)
	}
}

func say(who, format string, args ...any) {
	fmt.Printf("%-9s %s\n", who, fmt.Sprintf(format, args...))
}

func run(ctx context.Context, quick int) error {
	dir, err := os.MkdirTemp("", "legant-killswitch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d, err := start(ctx, dir)
	if d != nil {
		defer d.close()
	}
	if err != nil {
		return err
	}
	say("setup", "upstream   a go-sdk MCP server; tool %q reports progress every %v, %d steps (30 s)", slowtool.ToolName, slowtool.DefaultPeriod, slowtool.DefaultSteps)
	say("setup", "gateway    %s/mcp/%s   (store: SQLite in %s)", d.gatewayURL, demoSlug, dir)
	say("setup", "admin API  %s   (its own listener, bearer admin token)", d.adminURL)

	token, err := d.mint()
	if err != nil {
		return err
	}
	say("issuer", "minted a delegation: alice → agent:planner, may call %q (jti demo-jti)", slowtool.ToolName)
	a, err := connectAgent(ctx, d, token)
	if err != nil {
		return err
	}
	defer a.cs.Close()
	say("agent", "connected through the gateway: session %s", a.cs.ID())

	results := a.loop(ctx, quick)
	for range quick {
		r := <-results
		if r.err != nil {
			return fmt.Errorf("call %d: %w", r.n, r.err)
		}
		say("agent", "call %d → %s", r.n+1, r.text)
	}
	say("agent", "call %d → the long one: streaming…", quick+1)
	for shown := 0; shown < 5; {
		select {
		case p := <-a.progress:
			if tok, msg, _ := strings.Cut(p, " "); tok == fmt.Sprint(quick) {
				say("agent", "   progress: %s", msg)
				shown++
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	before := d.up.Stats()
	c := &admin.Client{BaseURL: d.adminURL, Token: d.adminToken}
	if err := listSessions(ctx, c); err != nil {
		return err
	}
	killedAt := time.Now()
	if err := kill(ctx, c, a.cs.ID()); err != nil {
		return err
	}
	return aftermath(ctx, d, a, results, token, before, killedAt)
}

// mint signs the agent's delegation token with the issuer key the gateway trusts.
func (d *demo) mint() (string, error) {
	now := time.Now()
	return authority.Sign(d.issuerKey, &authority.Claims{Issuer: demoIssuer, Subject: "alice",
		Audience: []string{d.gatewayURL + "/mcp/" + demoSlug}, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		ID: "demo-jti", ClientID: "agent-host", Scopes: []string{"work:run"},
		Actor: &authority.Actor{Subject: "planner"}, DelegationID: "demo-delegation", Constraints: authority.Unrestricted()})
}

func listSessions(ctx context.Context, c *admin.Client) error {
	list, err := c.Sessions(ctx, admin.SessionQuery{State: "live"})
	if err != nil {
		return err
	}
	say("security", "GET /v1/sessions?state=live → %d live session(s):", len(list))
	for _, s := range list {
		say("security", "   %s  %s → %s  on %s  since %s", s.ID, s.User, strings.Join(s.Agents, "→"), s.Upstream, s.Started.Local().Format(time.TimeOnly))
	}
	return nil
}

func kill(ctx context.Context, c *admin.Client, id string) error {
	req := admin.KillRequest{Session: id, Reason: "agent exfiltrating files", Actor: "alice@secops"}
	body, _ := json.Marshal(req)
	say("security", "POST /v1/kill %s", body)
	res, err := c.Kill(ctx, req)
	if err != nil {
		return err
	}
	out, _ := json.Marshal(res)
	say("security", "   → %s", out)
	say("security", "   (the store marked the session killed and revoked its token; the gateway, told of the")
	say("security", "    revocation as every replica is, cut the call before the answer: \"local\" lists only")
	say("security", "    what was still running when the admin API's own kill ran after it)")
	return nil
}

// aftermath shows what the kill did, from every side.
func aftermath(ctx context.Context, d *demo, a *agent, results <-chan result, token string, before slowtool.Stats, killedAt time.Time) error {
	r := <-results
	var werr *jsonrpc.Error
	if !errors.As(r.err, &werr) {
		return fmt.Errorf("the long call did not end with a JSON-RPC error: %v", r.err)
	}
	say("agent", "call %d ended after %v: error %d %q data %s", r.n+1, r.at.Sub(killedAt).Round(100*time.Microsecond), werr.Code, werr.Message, werr.Data)
	r = <-results
	say("agent", "call %d → refused: %v", r.n+1, r.err)
	say("agent", "re-initialize with the same token → HTTP %d", reinit(ctx, d, token))

	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := d.up.Wait(wait, func(s slowtool.Stats) bool { return s.Cancelled >= 1 && s.Deletes >= 1 })
	if err != nil {
		return err
	}
	say("upstream", "calls started %d (%d before the kill: none after), stopped early %d, notifications/cancelled %d, sessions ended (DELETE) %d",
		s.Started, before.Started, s.Cancelled, s.CancelNotifications, s.Deletes)
	d.gw.Close() // flush the gateway's audit queue
	evs, err := d.st.Audit().Query(ctx, store.AuditFilter{})
	if err != nil {
		return err
	}
	for _, e := range evs {
		if e.Kind == "kill" || e.Kind == "revoke" || e.Kind == "edge_401" {
			say("audit", "#%d %-8s client=%q session=%.12s… jti=%s reason=%q", e.Seq, e.Kind, e.Client, e.SessionID, e.TokenID, e.Reason)
		}
	}
	rep, err := d.st.Audit().Verify(ctx, nil)
	if err != nil {
		return err
	}
	say("audit", "chain of %d events verified, head %.16s…", rep.Events, rep.Head.Hash)
	return nil
}

// reinit tries to open a new session with token and returns the HTTP status.
func reinit(ctx context.Context, d *demo, token string) int {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"agent","version":"1"}}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.gatewayURL+"/mcp/"+demoSlug, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
