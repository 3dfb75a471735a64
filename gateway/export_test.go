package gateway

// PushStreams counts the open GET streams the gateway may inject its own
// events into (listchanged.go), across live sessions: for tests waiting
// until a client's standalone stream is up.
func (g *Gateway) PushStreams() int {
	n := 0
	for _, s := range g.sessions.all() {
		s.pushes.mu.Lock()
		n += len(s.pushes.streams)
		s.pushes.mu.Unlock()
	}
	return n
}

// CopyBody is copyBody (relay.go).
var CopyBody = copyBody

// ObserveTransport is observeTransport (observe.go).
var ObserveTransport = observeTransport
