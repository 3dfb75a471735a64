package gateway_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/openlegant/legant/gateway"
)

// headerObserver adds a header to every upstream request it observes unless
// it keeps headers.
type headerObserver struct {
	gateway.Observer // nil: only Upstream is called here
	keeps            bool
}

func (o headerObserver) Upstream(req *http.Request) func(int, error) {
	if !o.keeps {
		req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	}
	return func(int, error) {}
}

func (o headerObserver) KeepsHeaders() bool { return o.keeps }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestObservedTransportCopiesOnlyForHeaders: an observer that adds headers
// gets a copy of the request (the caller's stays as it was); one that keeps
// them gets the request itself, with nothing copied.
func TestObservedTransportCopiesOnlyForHeaders(t *testing.T) {
	for _, keeps := range []bool{false, true} {
		var sent *http.Request
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent = r
			return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
		})
		rt := gateway.ObserveTransport(headerObserver{keeps: keeps}, next)
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://upstream.test/mcp", http.NoBody)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer upstream-credential")
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		switch {
		case keeps && sent != req:
			t.Error("an observer that keeps headers: the request was copied")
		case !keeps && sent == req:
			t.Error("an observer that adds headers was handed the caller's request")
		case !keeps && (req.Header.Get("Traceparent") != "" || sent.Header.Get("Traceparent") == ""):
			t.Errorf("trace header on the caller's request %q, on the sent one %q; want only on the sent one",
				req.Header.Get("Traceparent"), sent.Header.Get("Traceparent"))
		case sent.Header.Get("Authorization") != "Bearer upstream-credential":
			t.Error("the upstream credential did not go out")
		}
	}
}
