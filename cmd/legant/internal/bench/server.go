package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// server is an HTTP server on a loopback port, stopped by close.
type server struct {
	url  string // http://127.0.0.1:port
	srv  *http.Server
	done chan struct{}
}

// listen serves h on a fresh loopback port.
func listen(h http.Handler) (*server, error) {
	return listenProtocols(h, nil)
}

// listenProtocols serves h on a fresh loopback port with the protocols p
// (nil: the default, HTTP/1.1 without TLS).
func listenProtocols(h http.Handler, p *http.Protocols) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return serveOnProtocols(ln, h, p), nil
}

// serveOn serves h on ln.
func serveOn(ln net.Listener, h http.Handler) *server { return serveOnProtocols(ln, h, nil) }

func serveOnProtocols(ln net.Listener, h http.Handler, p *http.Protocols) *server {
	return serveWith(ln, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, Protocols: p})
}

// serveWith serves srv on ln.
func serveWith(ln net.Listener, srv *http.Server) *server {
	s := &server{url: "http://" + ln.Addr().String(), done: make(chan struct{}), srv: srv}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener failed: requests will fail and be reported
		}
	}()
	return s
}

// close stops the server, cutting open streams.
func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
	<-s.done
}

// proxyMaxStreams is the bare proxy's HTTP/2 streams per client connection:
// `legant gateway`'s (h2cMaxStreams in cmd/legant).
const proxyMaxStreams = 250

// ServeBareProxy serves NewBareProxy to upstream on addr until ctx ends: the
// bare proxy as a process of its own (`legant bench-proxy`), so that the
// child gateways are compared with a baseline that also pays for its own
// process, sockets and scheduling. Like `legant gateway`, it serves HTTP/1.1
// and HTTP/2 cleartext with prior knowledge (250 streams per connection);
// h2c: it reaches the upstream over HTTP/2 cleartext too, as a gateway does
// an upstream marked h2c: true.
func ServeBareProxy(ctx context.Context, addr, upstream string, h2c bool) error {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("bench-proxy: upstream %q is not an absolute URL", upstream)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	proxy := NewBareProxy(u)
	if h2c {
		t := proxy.Transport.(*http.Transport)
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	s := serveWith(ln, &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second, Protocols: protocols,
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: proxyMaxStreams}})
	<-ctx.Done()
	s.close()
	return nil
}
