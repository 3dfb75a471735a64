// Package bridge presents MCP servers that do not speak Streamable HTTP as if
// they did, so that the gateway relays every upstream with one code path.
// A Handler emulates a stateful Streamable HTTP server (revisions 2025-03-26
// to 2025-11-25) in front of:
//
//   - a stdio server (NewStdio): one child process per session, speaking
//     newline-delimited JSON-RPC on stdin and stdout;
//   - a legacy HTTP+SSE server of revision 2024-11-05 (NewLegacySSE): one
//     SSE stream per session, messages POSTed to the endpoint it names.
//
// Transport runs a Handler in process, so the gateway reaches it with an
// ordinary *http.Client and its usual relay, without a socket.
//
// # Sessions
//
// A POST of initialize without Mcp-Session-Id opens a session with an
// unguessable id. A POST carrying requests is answered with an event stream
// that carries, each flushed at once, the progress notifications whose token
// its requests named, server-to-client messages sent while it is the newest
// stream and no standalone stream is open, and the responses to its requests;
// it ends with the last response. A POST of notifications and responses
// only is answered 202 once written. GET opens the session's one standalone
// stream, where server-initiated requests and notifications go while it is
// open (those sent while no stream was open wait for it, up to a bound).
// DELETE ends the session. A session ends too when its server closes the
// connection or a child process exits (later requests get 404), when a
// message exceeds Options.MaxMessageBytes, after Options.IdleTimeout without
// activity, and on Handler.Close. The bridge does not replay streams
// (Last-Event-ID is ignored) and always answers requests with an event
// stream, never a single JSON body. Revision 2026-07-28's stateless requests
// are refused with 400: the bridged servers are stateful.
//
// Messages are decoded with go-sdk's jsonrpc package; params and results stay
// raw bytes and are written on unchanged but for insignificant whitespace.
// Request ids are not mapped, by the bridge or by the gateway in front of it:
// a client's ids reach the server as they came, and each response is routed
// to the stream of the request with its id, compared as go-sdk's jsonrpc.ID
// (numbers as int64). Ids must therefore be unique among a session's
// requests in progress: a POST reusing one is refused with 400. Requests the
// server sends and the client's answers to them keep the server's ids.
//
// # Credentials
//
// A stdio child gets no token: there is no HTTP hop to carry one, so the
// Authorization header the gateway puts on its requests is ignored; the
// child's environment is PATH, HOME and the registry's env only. A legacy
// SSE upstream gets the Authorization header (the gateway's downstream token,
// cached per caller token and upstream) and other non-transport headers of
// each request; every request it is sent stays on its URL's origin and no
// redirect is followed.
//
// # Concurrency
//
// Handler is safe for concurrent use. Each session has one read loop
// goroutine that hands each message to its stream and waits until the
// stream's handler has taken it: a client that stops reading one stream
// holds back its session's other streams (and, through the pipe, the
// server), never other sessions. The read loop is owned by the session and
// ended by it; writes to the server run in short-lived goroutines the
// session waits for before it is gone; a child process has one goroutine
// that reaps it and one that logs its stderr, both waited for when the
// session ends. Handler.Close ends every session
// and returns once all of them are gone. Transport's handler goroutine is
// owned by the response: it ends when the handler returns, which cancelling
// the request or closing the body hastens.
//
// What it does not own: authorization and tool filtering (package gateway,
// which sits in front), and the registry (package upstreams).
//
// Example:
//
//	h := bridge.NewStdio([]string{"/usr/local/bin/files-mcp"}, map[string]string{"ROOT": "/srv"}, bridge.Options{})
//	defer h.Close()
//	client := &http.Client{Transport: bridge.Transport(h)}
//	// client POSTs to any URL reach h, e.g. "http://bridge.invalid/files".
package bridge
