package bridge_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openlegant/legant/gateway/bridge"
)

func get(t *testing.T, ctx context.Context, h http.Handler) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://bridge.invalid/path?q=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return (&http.Client{Transport: bridge.Transport(h)}).Do(req)
}

func TestTransportResponse(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/path" || r.URL.RawQuery != "q=1" || r.Host != "bridge.invalid" || r.RequestURI != "/path?q=1" {
			t.Errorf("handler saw %s %q host %q", r.Method, r.RequestURI, r.Host)
		}
		w.Header().Set("X-Test", "yes")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "hello")
	})
	resp, err := get(t, context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Test") != "yes" || string(body) != "hello" {
		t.Fatalf("got %d %v %q", resp.StatusCode, resp.Header, body)
	}
}

// An event stream arrives event by event: the handler writes the second
// event only after the client has read the first.
func TestTransportStreamsEventByEvent(t *testing.T) {
	read := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		io.WriteString(w, "data: one\n\n")
		rc.Flush()
		<-read
		io.WriteString(w, "data: two\n\n")
	})
	resp, err := get(t, context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event: %q %v", line, err)
	}
	close(read)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest: %q %v", rest, err)
	}
}

func TestTransportCancellationStopsHandler(t *testing.T) {
	tests := []struct {
		name string
		end  func(cancel context.CancelFunc, resp *http.Response)
	}{
		{"request context", func(cancel context.CancelFunc, _ *http.Response) { cancel() }},
		{"body close", func(_ context.CancelFunc, resp *http.Response) { resp.Body.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stopped := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				<-r.Context().Done()
				_, err := w.Write([]byte("late"))
				stopped <- err
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp, err := get(t, ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			tt.end(cancel, resp)
			if err := <-stopped; err == nil {
				t.Fatal("the handler could still write after the request ended")
			}
			if _, err := io.ReadAll(resp.Body); err == nil && tt.name == "request context" {
				t.Fatal("the body did not end with an error")
			}
		})
	}
}

func TestTransportCancelledBeforeHeader(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	if _, err := get(t, ctx, h); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestTransportHandlerPanic(t *testing.T) {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	_, err := get(t, context.Background(), h)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the panic", err)
	}
}

func TestTransportClosesRequestBody(t *testing.T) {
	closed := make(chan struct{})
	body := &closeNotifier{Reader: strings.NewReader("payload"), closed: closed}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	req, _ := http.NewRequest(http.MethodPost, "http://bridge.invalid/", body)
	resp, err := bridge.Transport(h).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "payload" {
		t.Fatalf("body = %q", got)
	}
	<-closed
}

type closeNotifier struct {
	io.Reader
	closed chan struct{}
}

func (c *closeNotifier) Close() error {
	close(c.closed)
	return nil
}

// A handler that answers and returns at once: its request context is
// cancelled on return, which must not turn the answer into an error.
func TestTransportQuickHandler(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for range 5000 {
		resp, err := get(t, context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
}
