package demo

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk/dpopclient"
)

// Outcome is what the gateway decided on one attempt, as the agent saw it.
type Outcome struct {
	Allowed bool
	Text    string // the tool's answer when allowed
	// Status is the HTTP status of a refusal at the edge (401, 403, or 404
	// for a session that is not the caller's), before any tool ran; 0
	// otherwise.
	Status int
	// Reason is the machine-readable reason of a policy denial ("window",
	// "tool_not_allowed") or the error_description of an edge refusal.
	Reason  string
	Message string // the JSON-RPC error message of a denial
	Data    policy.RPCErrorData
	// URL is data.url of a connection_required error: the gateway's page
	// where the user connects the upstream (registry auth kind oauth).
	URL string
}

// Decision is the outcome in a few words, the form the demos' tests compare:
// "allow", "deny window", "401 the token has expired".
func (o Outcome) Decision() string {
	switch {
	case o.Allowed:
		return "allow"
	case o.Status != 0:
		return strconv.Itoa(o.Status) + " " + o.Reason
	case o.Reason == gateway.ReasonConnectionRequired:
		return o.Reason // not a denial: the user has a step to take
	}
	return "deny " + o.Reason
}

// String is the outcome as the narration shows it.
func (o Outcome) String() string {
	switch {
	case o.Allowed:
		return "allowed: " + o.Text
	case o.Status != 0:
		return fmt.Sprintf("refused at the edge: HTTP %d, %q", o.Status, o.Reason)
	case o.Reason == gateway.ReasonConnectionRequired:
		u := o.URL // the ticket is an opaque HMAC: shortened
		if base, ticket, ok := strings.Cut(u, "ticket="); ok && len(ticket) > 12 {
			u = base + "ticket=" + ticket[:12] + "…"
		}
		return fmt.Sprintf("not sent: %s\n%10s %s", o.Message, "", u)
	}
	return fmt.Sprintf("refused: %s", o.Message)
}

// Agent is an agent's MCP client session through the gateway, with a real
// go-sdk client. Its token can be swapped between calls (SetToken), as a
// shared agent serving several people does.
type Agent struct {
	Name string
	cs   *mcp.ClientSession
	rt   *authTransport
}

// authTransport adds the agent's token to every request and remembers the
// last refusal at the edge (the go-sdk client reports it only as an error).
type authTransport struct {
	// dpop, when set, presents the token with the DPoP scheme and a fresh
	// proof by the agent's key per request (sdk/dpopclient).
	dpop http.RoundTripper

	mu     sync.Mutex
	token  string
	status int
	desc   string
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	token := t.token
	t.mu.Unlock()
	var resp *http.Response
	var err error
	if t.dpop != nil {
		resp, err = t.dpop.RoundTrip(req)
	} else {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err = http.DefaultTransport.RoundTrip(req)
	}
	if err == nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden ||
		resp.StatusCode == http.StatusNotFound) {
		t.mu.Lock()
		t.status, t.desc = resp.StatusCode, edgeReason(resp)
		t.mu.Unlock()
	}
	return resp, err
}

// edgeReason is the error_description of a refusal, the message of a
// JSON-RPC error body (the body is put back for the client), or the status
// text.
func edgeReason(resp *http.Response) string {
	const key = `error_description="`
	for _, h := range resp.Header.Values("WWW-Authenticate") {
		if _, rest, ok := strings.Cut(h, key); ok {
			if desc, _, ok := strings.Cut(rest, `"`); ok {
				return desc
			}
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var rpc struct {
		Error struct{ Message string } `json:"error"`
	}
	if err == nil && json.Unmarshal(body, &rpc) == nil && rpc.Error.Message != "" {
		return rpc.Error.Message
	}
	return strings.ToLower(http.StatusText(resp.StatusCode))
}

func (t *authTransport) takeRefusal() (int, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, d := t.status, t.desc
	t.status, t.desc = 0, ""
	return s, d
}

// Connect opens an MCP session through the gateway to slug with token. A
// refusal at the edge is an Outcome, not an error: (nil, refusal, nil).
func (e *Env) Connect(ctx context.Context, slug, token, name string) (*Agent, *Outcome, error) {
	return e.connect(ctx, slug, name, &authTransport{token: token})
}

// ConnectDPoP is Connect for a token bound to key (RFC 9449): every request
// carries the DPoP scheme and a fresh proof signed by key.
func (e *Env) ConnectDPoP(ctx context.Context, slug, token, name string, key crypto.Signer) (*Agent, *Outcome, error) {
	rt := &authTransport{token: token}
	rt.dpop = &dpopclient.Transport{Key: key, Now: e.Clock.Now, Token: func(context.Context) (string, error) {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return rt.token, nil
	}}
	return e.connect(ctx, slug, name, rt)
}

func (e *Env) connect(ctx context.Context, slug, name string, rt *authTransport) (*Agent, *Outcome, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: name, Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.GatewayURL + "/mcp/" + slug,
		HTTPClient: &http.Client{Transport: rt}}, nil)
	if err != nil {
		if status, desc := rt.takeRefusal(); status != 0 {
			return nil, &Outcome{Status: status, Reason: desc}, nil
		}
		var rpcErr *jsonrpc.Error
		if errors.As(err, &rpcErr) { // initialize answered with an error (connection_required)
			o := rpcOutcome(rpcErr)
			return nil, &o, nil
		}
		return nil, nil, fmt.Errorf("%s: connect: %w", name, err)
	}
	return &Agent{Name: name, cs: cs, rt: rt}, nil, nil
}

// Attempt connects with token and calls tool once: what a thief replaying a
// token, or a fresh agent, does.
func (e *Env) Attempt(ctx context.Context, slug, token, name, tool string, args map[string]any) (Outcome, error) {
	a, refused, err := e.Connect(ctx, slug, token, name)
	if err != nil || refused != nil {
		return deref(refused), err
	}
	defer a.Close()
	return a.Call(ctx, tool, args)
}

// AttemptDPoP is Attempt with a token bound to key, proofs signed by key.
func (e *Env) AttemptDPoP(ctx context.Context, slug, token, name string, key crypto.Signer, tool string, args map[string]any) (Outcome, error) {
	a, refused, err := e.ConnectDPoP(ctx, slug, token, name, key)
	if err != nil || refused != nil {
		return deref(refused), err
	}
	defer a.Close()
	return a.Call(ctx, tool, args)
}

func deref(o *Outcome) Outcome {
	if o == nil {
		return Outcome{}
	}
	return *o
}

// SetToken makes the agent present token from its next request on.
func (a *Agent) SetToken(token string) {
	a.rt.mu.Lock()
	a.rt.token = token
	a.rt.mu.Unlock()
}

// Tools lists the tools the gateway shows the agent.
func (a *Agent) Tools(ctx context.Context) ([]string, error) {
	res, err := a.cs.ListTools(ctx, nil)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	return names, nil
}

// Call calls tool and reports the gateway's decision. Errors are failures
// that are no decision (a broken connection).
func (a *Agent) Call(ctx context.Context, tool string, args map[string]any) (Outcome, error) {
	if args == nil {
		args = map[string]any{}
	}
	res, err := a.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if status, desc := a.rt.takeRefusal(); status != 0 {
		return Outcome{Status: status, Reason: desc}, nil
	}
	var rpcErr *jsonrpc.Error
	switch {
	case errors.As(err, &rpcErr):
		return rpcOutcome(rpcErr), nil
	case err != nil:
		return Outcome{}, fmt.Errorf("%s: call %s: %w", a.Name, tool, err)
	case res.IsError:
		return Outcome{}, fmt.Errorf("%s: call %s: the tool failed: %s", a.Name, tool, text(res))
	}
	return Outcome{Allowed: true, Text: text(res)}, nil
}

// rpcOutcome is the outcome a JSON-RPC error answer reports.
func rpcOutcome(rpcErr *jsonrpc.Error) Outcome {
	o := Outcome{Message: rpcErr.Message}
	if len(rpcErr.Data) > 0 {
		json.Unmarshal(rpcErr.Data, &o.Data)
		var d struct {
			URL string `json:"url"`
		}
		json.Unmarshal(rpcErr.Data, &d)
		o.URL = d.URL
	}
	o.Reason = string(o.Data.Reason)
	return o
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, " ")
}

// SessionID is the gateway's id of the agent's session.
func (a *Agent) SessionID() string { return a.cs.ID() }

// Close ends the agent's session.
func (a *Agent) Close() error { return a.cs.Close() }

// Token returns the token the agent presents.
func (a *Agent) Token() string {
	a.rt.mu.Lock()
	defer a.rt.mu.Unlock()
	return a.rt.token
}
