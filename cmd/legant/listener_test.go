package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestListenerProtocols: the gateway's listener serves HTTP/1.1 and, unless
// --no-h2c, HTTP/2 cleartext with prior knowledge — several requests of an
// h2c client then share one connection. With --no-h2c an h2c client gets no
// answer and HTTP/1.1 still works.
func TestListenerProtocols(t *testing.T) {
	for _, noH2C := range []bool{false, true} {
		var conns int
		srv := serveLimits{noH2C: noH2C}.server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.Proto)
		}))
		srv.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns++ // ConnState runs on the serving goroutines: read after Shutdown
			}
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		url := "http://" + ln.Addr().String() + "/"
		get := func(p *http.Protocols) (string, error) {
			tr := &http.Transport{Protocols: p}
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			var last string
			for range 3 {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := (&http.Client{Transport: tr}).Do(req)
				if err != nil {
					return "", err
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				last = string(b)
			}
			return last, nil
		}
		h2c := new(http.Protocols)
		h2c.SetUnencryptedHTTP2(true)
		h1 := new(http.Protocols)
		h1.SetHTTP1(true)
		if got, err := get(h1); err != nil || got != "HTTP/1.1" {
			t.Errorf("no-h2c %t: HTTP/1.1 client: %q, %v", noH2C, got, err)
		}
		got, err := get(h2c)
		switch {
		case !noH2C && (err != nil || got != "HTTP/2.0"):
			t.Errorf("h2c client: %q, %v; want HTTP/2.0", got, err)
		case noH2C && err == nil:
			t.Errorf("no-h2c: an h2c client was answered (%q)", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(ctx)
		cancel()
		if !noH2C && conns != 2 {
			t.Errorf("connections: %d, want 2 (one for the 3 HTTP/1.1 requests, one for the 3 h2c requests)", conns)
		}
	}
}

// TestH2CStreamsPerConnection: an h2c client holds at most h2cMaxStreams
// open streams (idle sessions' GET streams) on one connection; one more opens
// a second connection.
func TestH2CStreamsPerConnection(t *testing.T) {
	release := make(chan struct{})
	srv := serveLimits{}.server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-release // a stream held open, as an idle session's GET stream is
	}))
	var mu sync.Mutex
	conns := 0
	srv.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	defer close(release)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// One after another (each open before the next starts), so that the
	// client knows the server's limit and dials only when it is reached.
	for i := range h2cMaxStreams + 1 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatalf("stream %d: %v", i+1, err)
		}
		defer resp.Body.Close()
		mu.Lock()
		got := conns
		mu.Unlock()
		if want := 1 + (i+1)/(h2cMaxStreams+1); got != want {
			t.Fatalf("%d open streams on %d connections, want %d (%d streams per connection)", i+1, got, want, h2cMaxStreams)
		}
	}
}
