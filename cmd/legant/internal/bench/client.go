package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ProtocolVersion is the MCP revision the virtual clients negotiate: the
// latest session-based one.
const ProtocolVersion = "2025-11-25"

// Client is one virtual MCP client over raw net/http: it initializes once,
// keeps its Mcp-Session-Id and sends requests one at a time. It is not safe
// for concurrent use; a load worker owns it.
type Client struct {
	http     *http.Client
	endpoint string
	token    string // bearer token; "" sends none
	session  string // Mcp-Session-Id, "" for a stateless upstream
	version  string // negotiated protocol version, "" before initialize
	nextID   int64
	checked  int          // the last value a Workload.Check returned
	buf      bytes.Buffer // response body, reused
}

// NewClient returns a client of endpoint sending token as a bearer token.
func NewClient(hc *http.Client, endpoint, token string) *Client {
	return &Client{http: hc, endpoint: endpoint, token: token, nextID: 1}
}

// Session returns the Mcp-Session-Id the server assigned ("" if none).
func (c *Client) Session() string { return c.session }

// Initialize runs the MCP handshake: initialize, then notifications/initialized.
func (c *Client) Initialize(ctx context.Context) error {
	body := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + ProtocolVersion +
		`","capabilities":{},"clientInfo":{"name":"legant-bench","version":"1"}}}`
	resp, err := c.post(ctx, []byte(body))
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	c.session = resp.Header.Get("Mcp-Session-Id")
	res, err := c.readResult(resp, "0")
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	var init struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(res, &init); err != nil || init.ProtocolVersion == "" {
		return fmt.Errorf("initialize: result without protocolVersion")
	}
	c.version = init.ProtocolVersion
	resp, err = c.post(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	if err != nil {
		return fmt.Errorf("notifications/initialized: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("notifications/initialized: status %d", resp.StatusCode)
	}
	return nil
}

// Call sends one request (method and raw params) and returns the raw
// JSON-RPC result once the whole response has been read. Elapsed is the time
// from sending the request to reading the last byte of the response, before
// any parsing. A JSON-RPC error, or a tools/call result with isError, is an
// error.
func (c *Client) Call(ctx context.Context, method, params string) (result json.RawMessage, elapsed time.Duration, err error) {
	id := strconv.FormatInt(c.nextID, 10)
	c.nextID++
	body := make([]byte, 0, 64+len(method)+len(params))
	body = append(body, `{"jsonrpc":"2.0","id":`...)
	body = append(body, id...)
	body = append(body, `,"method":"`...)
	body = append(body, method...)
	body = append(body, `","params":`...)
	body = append(body, params...)
	body = append(body, '}')
	start := time.Now()
	resp, err := c.post(ctx, body)
	if err != nil {
		return nil, time.Since(start), err
	}
	c.buf.Reset()
	_, err = c.buf.ReadFrom(resp.Body)
	resp.Body.Close()
	elapsed = time.Since(start)
	if err != nil {
		return nil, elapsed, fmt.Errorf("read response: %w", err)
	}
	result, err = parseResponse(resp.StatusCode, resp.Header.Get("Content-Type"), c.buf.Bytes(), id)
	if err == nil && method == "tools/call" {
		err = checkToolResult(result)
	}
	return result, elapsed, err
}

// Close ends the session (DELETE); errors are ignored: the server may be gone.
func (c *Client) Close(ctx context.Context) {
	if c.session == "" {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.endpoint, nil)
	if err != nil {
		return
	}
	c.setHeaders(req.Header)
	if resp, err := c.http.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	c.session = ""
}

func (c *Client) post(ctx context.Context, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	c.setHeaders(req.Header)
	req.Header["Content-Type"] = []string{"application/json"}
	return c.http.Do(req)
}

// setHeaders writes the headers every request of the session carries. Keys
// are already canonical, so they are assigned directly.
func (c *Client) setHeaders(h http.Header) {
	h["Accept"] = []string{"application/json, text/event-stream"}
	if c.token != "" {
		h["Authorization"] = []string{"Bearer " + c.token}
	}
	if c.session != "" {
		h["Mcp-Session-Id"] = []string{c.session}
	}
	if c.version != "" {
		h["Mcp-Protocol-Version"] = []string{c.version}
	}
}

// readResult reads and checks the response to the request with id.
func (c *Client) readResult(resp *http.Response, id string) (json.RawMessage, error) {
	c.buf.Reset()
	_, err := c.buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	return parseResponse(resp.StatusCode, resp.Header.Get("Content-Type"), c.buf.Bytes(), id)
}

// RPCError is a JSON-RPC error answered instead of a result.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("JSON-RPC error %d: %s", e.Code, e.Message) }

// errNoResponse: the body held no JSON-RPC response to the request.
var errNoResponse = errors.New("no JSON-RPC response with the request's id")

// parseResponse finds the JSON-RPC response with id in a JSON body or an SSE
// stream and returns its result.
func parseResponse(status int, contentType string, body []byte, id string) (json.RawMessage, error) {
	if status/100 != 2 {
		return nil, fmt.Errorf("HTTP status %d: %s", status, firstLine(body))
	}
	if strings.HasPrefix(contentType, "text/event-stream") {
		for data := range sseData(body) {
			if res, ok, err := matchResponse(data, id); ok {
				return res, err
			}
		}
		return nil, errNoResponse
	}
	if res, ok, err := matchResponse(body, id); ok {
		return res, err
	}
	return nil, errNoResponse
}

// envelope is what the client reads of a JSON-RPC message.
type envelope struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
}

// matchResponse reports whether data is the response with id and, if so,
// its result or error.
func matchResponse(data []byte, id string) (json.RawMessage, bool, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, false, nil // not a single message with our id
	}
	if string(env.ID) != id {
		return nil, false, nil
	}
	if env.Error != nil {
		return nil, true, env.Error
	}
	if len(env.Result) == 0 || string(env.Result) == "null" {
		return nil, true, errors.New("response has neither result nor error")
	}
	return env.Result, true, nil
}

// sseData yields the data of each event of an SSE body (data lines joined by
// newlines, per the SSE specification).
func sseData(body []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		var data []byte
		has := false
		for len(body) > 0 {
			line, rest, _ := bytes.Cut(body, []byte("\n"))
			body = rest
			line = bytes.TrimSuffix(line, []byte("\r"))
			switch {
			case len(line) == 0:
				if has && !yield(data) {
					return
				}
				data, has = data[:0], false
			case bytes.HasPrefix(line, []byte("data:")):
				v := bytes.TrimPrefix(line[5:], []byte(" "))
				if has {
					data = append(data, '\n')
				}
				data, has = append(data, v...), true
			}
		}
		if has {
			yield(data)
		}
	}
}

// checkToolResult refuses a tools/call result flagged isError.
func checkToolResult(result json.RawMessage) error {
	var r struct {
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return fmt.Errorf("tools/call result: %w", err)
	}
	if r.IsError {
		return errors.New("tools/call result has isError")
	}
	return nil
}

// CountTools returns the number of tools in a tools/list result.
func CountTools(result json.RawMessage) (int, error) {
	var r struct {
		Tools []json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return 0, fmt.Errorf("tools/list result: %w", err)
	}
	if r.Tools == nil {
		return 0, errors.New("tools/list result has no tools array")
	}
	return len(r.Tools), nil
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if len(line) > 200 {
		line = line[:200]
	}
	return string(line)
}
