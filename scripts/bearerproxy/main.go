// Command bearerproxy is a test-only reverse proxy that adds
// "Authorization: Bearer <token>" to every request it forwards.
//
// The MCP conformance suite has no option to send a header, so the conformance
// harness (scripts/conformance.sh) puts this proxy between the suite and
// `legant gateway`. It is transparent otherwise: the client's Host and Origin reach
// the target unchanged (so the gateway's DNS-rebinding checks see what the client
// sent), and responses, SSE streams included, are flushed as they arrive, never
// buffered.
//
// Usage:
//
//	bearerproxy -listen 127.0.0.1:0 -target http://127.0.0.1:8080 -token-file token.txt
//
// Line 1 of standard output is the address the proxy listens on (host:port);
// logs go to standard error. SIGINT or SIGTERM stops it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on; port 0 picks a free port")
	target := flag.String("target", "", "base URL requests are forwarded to, e.g. http://127.0.0.1:8080 (the request path is appended)")
	tokenFile := flag.String("token-file", "", "file holding the bearer token; surrounding whitespace is ignored")
	flag.Parse()
	log.SetPrefix("bearerproxy: ")
	log.SetFlags(0)
	if err := run(*listen, *target, *tokenFile); err != nil {
		log.Fatal(err)
	}
}

func run(listen, target, tokenFile string) error {
	u, err := parseTarget(target)
	if err != nil {
		return err
	}
	token, err := readToken(tokenFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if _, err := fmt.Println(ln.Addr().String()); err != nil {
		return fmt.Errorf("print listen address: %w", err)
	}

	srv := &http.Server{
		Handler:           newProxy(u, token),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.Default(),
		// No read or write timeout: SSE streams stay open as long as the client wants.
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// newProxy returns a handler that forwards every request to target (the request's
// path and query are joined to target's) with the Authorization header set to the
// bearer token, replacing any the client sent. The client's Host header is kept.
func newProxy(target *url.URL, token string) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.Out.Header.Set("Authorization", "Bearer "+token)
			bufferBody(r.Out)
		},
		// Negative: flush after every write, so each SSE event reaches the client at once.
		FlushInterval: -1,
		ErrorLog:      log.Default(),
	}
}

// bufferBody reads a request body into memory before it is forwarded.
// Streaming it loses a response now and then: the server flushes SSE headers
// before the transport has seen the body's end, which closes the inbound
// body and makes the transport's last read fail mid-response (golang/go#40747).
func bufferBody(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		r.Body = io.NopCloser(errReader{err})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Del("Transfer-Encoding")
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func parseTarget(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("-target is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("-target: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-target %q: want an absolute http or https URL", s)
	}
	return u, nil
}

func readToken(path string) (string, error) {
	if path == "" {
		return "", errors.New("-token-file is required")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("-token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("-token-file %s is empty", path)
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("-token-file %s: token contains whitespace", path)
	}
	return token, nil
}
