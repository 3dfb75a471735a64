// Command client-auth-conformance-client is the MCP client that
// scripts/client-auth-conformance.sh hands to the conformance suite's
// `client` command for its authorization scenarios (auth/*): it puts
// `legant gateway` between a plain MCP client and the suite's server, so the
// OAuth client under test is the gateway (registry auth kind oauth,
// gateway/connect.go), not this program.
//
// For one scenario (the suite runs it with the server URL as its argument,
// the scenario in MCP_CONFORMANCE_SCENARIO and, for some, a context in
// MCP_CONFORMANCE_CONTEXT) it:
//
//  1. writes a registry with the suite's server as an upstream of auth kind
//     oauth (slug conf, its tool test-tool granted; the pre-registered
//     client of the context, if any, as auth.client with the secret from
//     an environment variable) and starts `legant gateway` (embedded SQLite
//     store, a fresh data directory) with public URL
//     https://conformance-test.local: that is the origin whose Client ID
//     Metadata Document URL the suite expects, and the gateway serves its
//     document there (a TLS-terminating proxy would stand in front in a
//     real deployment; here this program plays it for the browser);
//  2. mints a Legant delegation token for a user with `legant mint`;
//  3. runs go-sdk's client through the gateway with that token: connect,
//     tools/list, tools/call test-tool. A call answered with the gateway's
//     connection_required error (-32035, data.url) is retried after this
//     program plays the user's browser on data.url: it follows the
//     redirects (gateway connect page → the suite's authorization server,
//     which approves at once → the gateway's callback, which exchanges the
//     code) with a cookie jar, sending requests for the public origin to
//     the gateway's loopback address. At most three connections per call.
//
// With CLIENT_AUTH_CONFORMANCE_NO_CIMD=1 the gateway's public URL is its
// plain http loopback address, so it has no Client ID Metadata Document
// (the negative control of the script: auth/basic-cimd must then warn).
//
// Exit 0 when every call succeeded; 1 otherwise (the gateway's log is
// copied to stderr, which the suite saves). The legant binary is
// $LEGANT_BIN (default: legant on PATH).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// publicURL is the gateway's public origin: the one of the Client ID
// Metadata Document URL the suite's auth/basic-cimd expects.
var publicURL = "https://conformance-test.local"

const (
	slug = "conf"
	// maxConnects bounds the connections made for one call (a server that
	// keeps asking must not loop the user through its consent).
	maxConnects = 3
	// codeUpstream and reasonConnectionRequired: the gateway's error for a
	// call that needs the user to connect the upstream (docs/UPSTREAMS.md).
	codeUpstream             = -32035
	reasonConnectionRequired = "connection_required"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: client-auth-conformance-client <server URL>")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := run(ctx, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "client-auth-conformance-client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, serverURL string) (err error) {
	dir, err := os.MkdirTemp("", "legant-client-auth-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var conf struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if c := os.Getenv("MCP_CONFORMANCE_CONTEXT"); c != "" {
		if err := json.Unmarshal([]byte(c), &conf); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT: %w", err)
		}
	}
	gw, err := startGateway(ctx, dir, serverURL, conf.ClientID, conf.ClientSecret)
	if err != nil {
		return err
	}
	defer func() {
		gw.stop()
		if err != nil {
			b, _ := os.ReadFile(gw.log)
			fmt.Fprintf(os.Stderr, "--- legant gateway log ---\n%s--- end ---\n", b)
		}
	}()
	return drive(ctx, gw)
}

// gateway is a running `legant gateway`.
type gateway struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	addr   string        // 127.0.0.1:port
	log    string
	token  string
}

func (g *gateway) stop() {
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(5 * time.Second):
		g.cmd.Process.Kill()
		<-g.exited
	}
}

func startGateway(ctx context.Context, dir, serverURL, clientID, clientSecret string) (*gateway, error) {
	bin := os.Getenv("LEGANT_BIN")
	if bin == "" {
		bin = "legant"
	}
	var client string
	if clientID != "" {
		client = fmt.Sprintf("\n      client: {id: %q, secret: {env: CONFORMANCE_CLIENT_SECRET}}", clientID)
		if clientSecret == "" {
			client = fmt.Sprintf("\n      client: {id: %q}", clientID)
		}
	}
	registry := filepath.Join(dir, "legant.yaml")
	yaml := fmt.Sprintf(`# Written by scripts/client-auth-conformance-client: the suite's server as an oauth upstream.
version: 1
upstreams:
  - slug: %s
    transport: streamable-http
    url: %q
    auth:
      kind: oauth%s
    tools:
      test-tool: {scope: %s:call}
`, slug, serverURL, client, slug)
	if err := os.WriteFile(registry, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	g := &gateway{addr: fmt.Sprintf("127.0.0.1:%d", port), log: filepath.Join(dir, "gateway.log")}
	if os.Getenv("CLIENT_AUTH_CONFORMANCE_NO_CIMD") == "1" {
		publicURL = "http://" + g.addr
	}
	logf, err := os.Create(g.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	data := filepath.Join(dir, "data")
	g.cmd = exec.Command(bin, "gateway", "--listen", g.addr, "--public-url", publicURL,
		"--upstreams", registry, "--data-dir", data, "--admin-listen=", "--log-level", "debug")
	g.cmd.Env = append(os.Environ(), "CONFORMANCE_CLIENT_SECRET="+clientSecret)
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start legant gateway: %w", err)
	}
	g.exited = make(chan struct{})
	go func() { g.cmd.Wait(); close(g.exited) }()
	for {
		resp, err := http.Get("http://" + g.addr + "/client-metadata.json")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-g.exited:
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
			continue
		}
		g.stop()
		b, _ := os.ReadFile(g.log)
		return nil, fmt.Errorf("legant gateway did not start:\n%s", b)
	}
	tok, err := exec.CommandContext(ctx, bin, "mint", "--keys", filepath.Join(data, "keys"), "--issuer", publicURL,
		"--user", "conformance-user", "--agent", "conformance-agent", "--aud", publicURL+"/mcp/"+slug,
		"--scope", slug+":call", "--ttl", "1h").Output()
	if err != nil {
		g.stop()
		return nil, fmt.Errorf("legant mint: %w", err)
	}
	g.token = strings.TrimSpace(string(tok))
	return g, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// drive runs the scenario's calls through the gateway as the agent.
func drive(ctx context.Context, g *gateway) error {
	browser := newBrowser(g.addr)
	httpClient := &http.Client{Transport: bearer{token: g.token}}
	client := mcp.NewClient(&mcp.Implementation{Name: "client-auth-conformance-client", Version: "1"}, nil)
	var session *mcp.ClientSession
	defer func() {
		if session != nil {
			session.Close()
		}
	}()
	if err := withConnect(ctx, browser, "connect", func() (err error) {
		session, err = client.Connect(ctx, &mcp.StreamableClientTransport{
			Endpoint: "http://" + g.addr + "/mcp/" + slug, HTTPClient: httpClient, MaxRetries: -1}, nil)
		return err
	}); err != nil {
		return err
	}
	if err := withConnect(ctx, browser, "tools/list", func() error {
		_, err := session.ListTools(ctx, nil)
		return err
	}); err != nil {
		return err
	}
	return withConnect(ctx, browser, "tools/call test-tool", func() error {
		res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "test-tool", Arguments: map[string]any{}})
		if err == nil && res.IsError {
			err = fmt.Errorf("tool error: %v", res.Content)
		}
		return err
	})
}

// withConnect runs call; while it fails with connection_required, the user
// connects at the error's URL and call runs again (at most maxConnects
// times).
func withConnect(ctx context.Context, b *browser, what string, call func() error) error {
	for n := 0; ; n++ {
		err := call()
		u := connectURL(err)
		if u == "" {
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		}
		if n == maxConnects {
			return fmt.Errorf("%s: still asks for a connection after %d: %w", what, n, err)
		}
		fmt.Fprintf(os.Stderr, "%s: connection required, connecting at %s\n", what, u)
		if err := b.connect(ctx, u); err != nil {
			return fmt.Errorf("%s: connect: %w", what, err)
		}
	}
}

// connectURL returns data.url of the gateway's connection_required error.
func connectURL(err error) string {
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != codeUpstream {
		return ""
	}
	var d struct{ Reason, URL string }
	if json.Unmarshal(we.Data, &d) != nil || d.Reason != reasonConnectionRequired {
		return ""
	}
	return d.URL
}

// bearer sets the agent's delegation token on every request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// browser is the user's browser: a cookie jar, redirects followed, and the
// gateway's public origin reached at its loopback address (the TLS proxy a
// deployment puts in front of the gateway).
type browser struct {
	client *http.Client
	addr   string
}

func newBrowser(addr string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{addr: addr}
	b.client = &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("too many redirects")
			}
			b.local(req.URL)
			return nil
		}}
	return b
}

func (b *browser) local(u *url.URL) {
	if u.Scheme+"://"+u.Host == publicURL {
		u.Scheme, u.Host = "http", b.addr
	}
}

// connect opens the connect URL and follows it to the gateway's answer.
func (b *browser) connect(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	b.local(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d: %s", resp.Request.URL.Redacted(), resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}
