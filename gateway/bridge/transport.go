package bridge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
)

// Transport returns an http.RoundTripper that serves each request with h in
// this process, without a network. The handler runs in its own goroutine
// and writes into a pipe; the response is returned as soon as it has written
// its header (WriteHeader, or the first Write or Flush), and its body is
// read while the handler writes, so an event stream arrives event by event.
// Cancelling the request's context or closing the response body cancels the
// handler's request context and closes the pipe. A handler that panics
// before answering makes RoundTrip fail; after answering, the body ends with
// an error.
func Transport(h http.Handler) http.RoundTripper { return handlerTransport{h: h} }

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	pr, pw := io.Pipe()
	stop := context.AfterFunc(ctx, func() { pr.CloseWithError(context.Cause(ctx)) })
	rw := &pipeWriter{pw: pw, header: http.Header{}, ready: make(chan struct{})}
	go func() { // owned by the response: ends when the handler returns
		defer cancel()
		defer stop()
		defer rw.finish()
		if req.Body != nil {
			defer req.Body.Close()
		}
		t.h.ServeHTTP(rw, serverRequest(ctx, req))
	}()
	// The caller's context, not ctx: ctx is also cancelled when the handler
	// returns, which may be right after it answered.
	select {
	case <-rw.ready:
	case <-req.Context().Done():
		// The handler sees ctx cancelled, and the pipe is closed: it ends on its own.
		return nil, context.Cause(req.Context())
	}
	if rw.err != nil {
		cancel()
		return nil, rw.err
	}
	return rw.response(req, &pipeBody{PipeReader: pr, cancel: cancel}), nil
}

// serverRequest is req as a handler sees it from a server.
func serverRequest(ctx context.Context, req *http.Request) *http.Request {
	r := req.Clone(ctx)
	r.URL = &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	r.RequestURI = req.URL.RequestURI()
	if r.Host == "" {
		r.Host = req.URL.Host
	}
	r.RemoteAddr = "in-process"
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	if r.Body == nil {
		r.Body = http.NoBody
	}
	return r
}

// pipeWriter is the http.ResponseWriter of an in-process request. Like any
// ResponseWriter it is used by the handler's goroutine only; ready closes
// once status and header are committed, after which RoundTrip reads them.
type pipeWriter struct {
	pw     *io.PipeWriter
	header http.Header

	once   sync.Once
	ready  chan struct{}
	status int
	sent   http.Header // header as committed
	err    error       // set when the handler failed before committing
}

var (
	_ http.Flusher        = (*pipeWriter)(nil)
	_ http.ResponseWriter = (*pipeWriter)(nil)
)

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		return // informational responses are not relayed
	}
	w.commit(code)
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	if w.status == 0 && w.header.Get("Content-Type") == "" && len(p) > 0 {
		w.header.Set("Content-Type", http.DetectContentType(p))
	}
	w.commit(http.StatusOK)
	return w.pw.Write(p)
}

// Flush commits the header; the body needs no flushing: a pipe write returns
// once the reader has taken the bytes.
func (w *pipeWriter) Flush() { w.commit(http.StatusOK) }

// FlushError is what http.ResponseController.Flush calls.
func (w *pipeWriter) FlushError() error {
	w.commit(http.StatusOK)
	return nil
}

func (w *pipeWriter) commit(code int) {
	w.once.Do(func() {
		w.status = code
		w.sent = w.header.Clone()
		close(w.ready)
	})
}

// finish ends the response when the handler returns or panics.
func (w *pipeWriter) finish() {
	p := recover()
	switch {
	case p == nil:
		w.commit(http.StatusOK)
		w.pw.Close()
		return
	case p == http.ErrAbortHandler:
		w.fail(p.(error))
	default:
		w.fail(fmt.Errorf("bridge: handler panic: %v", p))
	}
}

func (w *pipeWriter) fail(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.ready)
	})
	w.pw.CloseWithError(err)
}

func (w *pipeWriter) response(req *http.Request, body io.ReadCloser) *http.Response {
	resp := &http.Response{
		Status:     strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode: w.status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        w.sent,
		Body:          body,
		ContentLength: -1,
		Request:       req,
	}
	if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		resp.ContentLength = n
	}
	return resp
}

// pipeBody is the body of an in-process response. Closing it cancels the
// handler's context.
type pipeBody struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (b *pipeBody) Close() error {
	b.cancel()
	return b.PipeReader.Close()
}
