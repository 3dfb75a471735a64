package gateway

// Timeouts: every timeout of the registry is honoured for every method.
// timeouts.connect bounds dialling a streamable-http upstream (carried to
// the shared transport's dialer in the request's context), timeouts.call
// bounds a POST carrying a tools/call (or tasks/result, which waits for a
// task's end), timeouts.request every other POST (initialize, tools/list,
// ping...). A request that runs out of time is answered with CodeUpstream
// "the upstream did not answer in time".

import (
	"context"
	"net"
	"time"

	"github.com/openlegant/legant/upstreams"
)

// requestTimeout bounds one POST of ex upstream; 0 means no limit.
func (g *Gateway) requestTimeout(ex *exchange) time.Duration {
	if ex.hasCall {
		return ex.up.Timeouts.Call
	}
	if t := ex.up.Timeouts.Request; t > 0 {
		return t
	}
	return upstreams.DefaultRequestTimeout
}

type dialTimeoutKey struct{}

// withDialTimeout makes d the dial timeout of the connections a request with
// ctx opens (0 leaves the default).
func withDialTimeout(ctx context.Context, d time.Duration) context.Context {
	if d <= 0 {
		return ctx
	}
	return context.WithValue(ctx, dialTimeoutKey{}, d)
}

// dialUpstream dials with the timeout the request's context carries
// (timeouts.connect of its upstream), DefaultConnectTimeout without one.
func dialUpstream(ctx context.Context, network, addr string) (net.Conn, error) {
	d, ok := ctx.Value(dialTimeoutKey{}).(time.Duration)
	if !ok {
		d = upstreams.DefaultConnectTimeout
	}
	return (&net.Dialer{Timeout: d, KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
}
