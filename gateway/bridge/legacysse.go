package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// NewLegacySSE returns a Handler that serves each session over the legacy
// HTTP+SSE transport (revision 2024-11-05) of the server at endpoint: it
// opens the server's SSE stream, reads its endpoint event, and POSTs the
// session's messages there; everything the server sends arrives on the SSE
// stream.
//
// client carries the requests (nil means http.DefaultClient); only its
// Transport is used: the SSE stream must outlive any client Timeout, and
// redirects are never followed. Every request to the server, the SSE stream
// and the POSTs alike, must stay on endpoint's origin: an endpoint event
// naming another origin ends the session (no SSRF through a hostile
// upstream). The headers of the bridge's requests (Authorization and any
// static upstream headers, less the Streamable HTTP ones) are carried
// through; the latest request's headers are used for later POSTs.
func NewLegacySSE(endpoint string, client *http.Client, opts Options) *Handler {
	var h *Handler
	h = newHandler(opts, func(ctx context.Context, r *http.Request, log *slog.Logger) (*link, error) {
		return dialLegacy(ctx, endpoint, client, r.Header, h.opts.MaxMessageBytes)
	})
	return h
}

// refusedError reports that the upstream answered the SSE stream's GET
// with 401 or 403.
type refusedError struct{ status int }

func (e *refusedError) Error() string {
	return fmt.Sprintf("bridge: the upstream refused the connection (HTTP %d)", e.status)
}

func dialLegacy(ctx context.Context, endpoint string, client *http.Client, hdr http.Header, maxMessage int) (*link, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bridge: %q is not an http(s) URL", endpoint)
	}
	g := &originGuard{origin: originOf(u), base: http.DefaultTransport}
	if client != nil && client.Transport != nil {
		g.base = client.Transport
	}
	g.setHeaders(hdr)
	tr := &mcp.SSEClientTransport{
		Endpoint:     endpoint,
		HTTPClient:   &http.Client{Transport: g, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		MaxEventSize: maxMessage,
	}
	conn, err := tr.Connect(ctx)
	if err != nil {
		if st := g.refused.Load(); st != 0 {
			return nil, &refusedError{status: int(st)}
		}
		return nil, fmt.Errorf("bridge: connect to the legacy SSE endpoint: %w", err)
	}
	return &link{conn: conn, refresh: g.setHeaders, stop: func() { conn.Close() }}, nil
}

// errCrossOrigin refuses a request that would leave the upstream's origin.
var errCrossOrigin = errors.New("bridge: refusing a request to another origin than the upstream's")

// originGuard is the RoundTripper of one legacy session: it refuses requests
// off the upstream's origin, adds the carried-through headers and notes a
// 401/403. Safe for concurrent use.
type originGuard struct {
	origin  string
	base    http.RoundTripper
	headers atomic.Pointer[http.Header]
	refused atomic.Int32 // last 401/403 status seen, 0 if none
}

// setHeaders keeps the headers of hdr to carry through to the upstream.
func (g *originGuard) setHeaders(hdr http.Header) {
	out := http.Header{}
	for k, vv := range hdr {
		if carried(http.CanonicalHeaderKey(k)) {
			out[http.CanonicalHeaderKey(k)] = vv
		}
	}
	g.headers.Store(&out)
}

// carried reports whether a header of a bridge request goes on to a legacy
// upstream: not the Streamable HTTP transport's own headers, which mean
// nothing there, nor those the HTTP client sets itself.
func carried(k string) bool {
	switch k {
	case "Accept", "Content-Type", "Content-Length", "Host", "Connection", "Keep-Alive", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Proxy-Authorization", "Cookie", "Last-Event-Id",
		headerSessionID, "Mcp-Protocol-Version", "Mcp-Method", "Mcp-Name":
		return false
	}
	return !strings.HasPrefix(k, "Mcp-Param-")
}

func (g *originGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if originOf(req.URL) != g.origin {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s", errCrossOrigin, originOf(req.URL))
	}
	out := req.Clone(req.Context())
	for k, vv := range *g.headers.Load() {
		out.Header[k] = vv
	}
	resp, err := g.base.RoundTrip(out)
	if err == nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		g.refused.Store(int32(resp.StatusCode))
	}
	return resp, err
}

// originOf returns scheme://host[:port] in lower case, without a default port.
func originOf(u *url.URL) string {
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host
}
