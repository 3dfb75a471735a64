package gateway_test

import (
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/openlegant/legant/gateway"
)

// TestEveryMethodHasATimeout: upstreams that take the request and never
// answer, one at the TCP level (a raw listener that accepts and reads
// nothing), one at the HTTP level (a handler that never writes). Every
// method, not only tools/call, is answered within timeouts.request with
// CodeUpstream "the upstream did not answer in time".
func TestEveryMethodHasATimeout(t *testing.T) {
	silentTCP := rawListener(t)
	silentHTTP := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	for _, up := range []struct {
		name string
		o    rigOptions
	}{
		{"tcp", rigOptions{upstreamURL: "http://" + silentTCP + "/mcp"}},
		{"http", rigOptions{handler: silentHTTP}},
	} {
		t.Run(up.name, func(t *testing.T) {
			o := up.o
			o.timeouts = "{request: 300ms, call: 400ms}"
			r := newRig(t, o)
			tok := r.token(tokenOptions{})
			for _, body := range []string{
				`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`,
				`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
				`{"jsonrpc":"2.0","id":3,"method":"ping"}`,
				`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"list_expenses","arguments":{}}}`,
			} {
				begin := time.Now()
				resp := rawPost(t, r.endpoint(), tok, nil, body)
				took := time.Since(begin)
				code, msg, reason := rpcErr(t, resp.body)
				if code != gateway.CodeUpstream || msg != "the upstream did not answer in time" || reason != "timeout" {
					t.Fatalf("%s: %d %q %q, want %d did not answer in time", body, code, msg, reason, gateway.CodeUpstream)
				}
				if took < 250*time.Millisecond || took > 3*time.Second {
					t.Fatalf("%s answered after %v, want about 300-400ms", body, took)
				}
			}
		})
	}
}

// TestConnectTimeoutHonoured: timeouts.connect bounds dialling a
// streamable-http upstream. The upstream's listen backlog is full, so a SYN
// gets no answer and connect hangs; the gateway gives up after connect (200ms),
// long before the request timeout (20s), and answers "unreachable".
func TestConnectTimeoutHonoured(t *testing.T) {
	addr := fullBacklog(t)
	r := newRig(t, rigOptions{upstreamURL: "http://" + addr + "/mcp", timeouts: "{connect: 200ms, request: 20s}"})
	begin := time.Now()
	resp := rawPost(t, r.endpoint(), r.token(tokenOptions{}), nil, `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	took := time.Since(begin)
	code, msg, _ := rpcErr(t, resp.body)
	if code != gateway.CodeUpstream || msg != "the upstream is unreachable" {
		t.Fatalf("%d %q, want %d the upstream is unreachable", code, msg, gateway.CodeUpstream)
	}
	if took < 150*time.Millisecond || took > 3*time.Second {
		t.Fatalf("answered after %v, want about the 200ms connect timeout", took)
	}
}

// rawListener accepts TCP connections on loopback and never reads or writes.
func rawListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-conns:
				c.Close()
			default:
				return
			}
		}
	})
	return ln.Addr().String()
}

// fullBacklog returns the address of a loopback socket listening with a
// backlog of 0 that never accepts, its queue filled: a new connection's SYN
// is dropped, so connect hangs until the dialer's timeout.
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for filled := false; !filled; {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			filled = true // this one hung: the queue is full
			continue
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}
