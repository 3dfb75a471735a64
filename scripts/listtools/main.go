// Command listtools prints the names of the tools an MCP server offers over
// streamable HTTP, one per line, in the server's order (with -list, the
// names of its prompts, the URIs of its resources or its resource
// templates). It is a test-only helper of scripts/conformance.sh, which
// grants every object of the conformance upstream.
//
// Usage:
//
//	listtools -url http://127.0.0.1:8080/mcp [-token-file FILE] [-list tools|prompts|resources|templates]
//
// It opens a session (initialize, notifications/initialized), pages through
// the list, and ends the session. Responses may be JSON or an SSE stream.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"
)

// protocolVersion is the MCP revision listtools speaks.
const protocolVersion = "2025-06-18"

func main() {
	url := flag.String("url", "", "MCP endpoint, e.g. http://127.0.0.1:8080/mcp")
	tokenFile := flag.String("token-file", "", "optional file holding a bearer token to send")
	kind := flag.String("list", "tools", "what to list: tools, prompts, resources or templates")
	flag.Parse()
	log.SetPrefix("listtools: ")
	log.SetFlags(0)
	if *url == "" {
		log.Fatal("-url is required")
	}
	c := &client{url: *url, http: &http.Client{Timeout: 30 * time.Second}}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			log.Fatal(err)
		}
		c.token = strings.TrimSpace(string(b))
	}
	l, ok := lists[*kind]
	if !ok {
		log.Fatalf("-list %q: want tools, prompts, resources or templates", *kind)
	}
	names, err := c.list(l)
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range names {
		fmt.Println(n)
	}
}

// client is a minimal MCP streamable HTTP client. Not safe for concurrent use.
type client struct {
	url     string
	token   string // "" = no Authorization header
	session string // Mcp-Session-Id, "" until initialize answers with one
	nextID  int
	http    *http.Client
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type rpcResponse struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

// listing is one list method: its result member and each item's name member.
type listing struct{ method, member, key string }

var lists = map[string]listing{
	"tools":     {"tools/list", "tools", "name"},
	"prompts":   {"prompts/list", "prompts", "name"},
	"resources": {"resources/list", "resources", "uri"},
	"templates": {"resources/templates/list", "resourceTemplates", "uriTemplate"},
}

// listTools lists the tools' names.
func (c *client) listTools() ([]string, error) { return c.list(lists["tools"]) }

// list pages through one list and returns each item's name.
func (c *client) list(l listing) ([]string, error) {
	init := map[string]any{
		"protocolVersion": protocolVersion,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "legant-listtools", "version": "0"},
	}
	if _, err := c.call("initialize", init); err != nil {
		return nil, err
	}
	defer c.close()
	if err := c.notify("notifications/initialized"); err != nil {
		return nil, err
	}
	var names []string
	cursor := ""
	for page := 0; page < 1000; page++ {
		params := map[string]any{}
		if cursor != "" {
			params["cursor"] = cursor
		}
		raw, err := c.call(l.method, params)
		if err != nil {
			return nil, err
		}
		var res struct {
			NextCursor string `json:"nextCursor"`
		}
		var members map[string]json.RawMessage
		var items []map[string]any
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, fmt.Errorf("%s result: %w", l.method, err)
		}
		if err := json.Unmarshal(raw, &members); err != nil {
			return nil, fmt.Errorf("%s result: %w", l.method, err)
		}
		if err := json.Unmarshal(members[l.member], &items); err != nil {
			return nil, fmt.Errorf("%s result: %s: %w", l.method, l.member, err)
		}
		for _, it := range items {
			name, _ := it[l.key].(string)
			names = append(names, name)
		}
		if res.NextCursor == "" {
			return names, nil
		}
		cursor = res.NextCursor
	}
	return nil, fmt.Errorf("%s: more than 1000 pages", l.method)
}

// call sends a request and returns the result of the response with its id.
func (c *client) call(method string, params any) (json.RawMessage, error) {
	c.nextID++
	id := c.nextID
	resp, err := c.post(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	if s := resp.Header.Get("Mcp-Session-Id"); s != "" && c.session == "" {
		c.session = s
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return nil, fmt.Errorf("%s: HTTP %s: %s", method, resp.Status, bytes.TrimSpace(b))
	}
	r, err := readResponse(resp, fmt.Sprint(id))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if r.Error != nil {
		return nil, fmt.Errorf("%s: JSON-RPC error %d: %s", method, r.Error.Code, r.Error.Message)
	}
	return r.Result, nil
}

func (c *client) notify(method string) error {
	resp, err := c.post(map[string]any{"jsonrpc": "2.0", "method": method})
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: HTTP %s", method, resp.Status)
	}
	return nil
}

// close ends the session; failures are ignored (the server may not support DELETE).
func (c *client) close() {
	if c.session == "" {
		return
	}
	req, err := http.NewRequest(http.MethodDelete, c.url, nil)
	if err != nil {
		return
	}
	c.setHeaders(req)
	if resp, err := c.http.Do(req); err == nil {
		resp.Body.Close()
	}
}

func (c *client) post(msg any) (*http.Response, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	c.setHeaders(req)
	return c.http.Do(req)
}

func (c *client) setHeaders(req *http.Request) {
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
		req.Header.Set("MCP-Protocol-Version", protocolVersion)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// readResponse returns the JSON-RPC response whose id is id, from a JSON body or
// from the data of the SSE events in the body (other messages are skipped).
func readResponse(resp *http.Response, id string) (*rpcResponse, error) {
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var r rpcResponse
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return nil, err
		}
		return &r, nil
	case "text/event-stream":
		return readSSEResponse(resp.Body, id)
	default:
		return nil, fmt.Errorf("unexpected Content-Type %q", ct)
	}
}

func readSSEResponse(body io.Reader, id string) (*rpcResponse, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	var data strings.Builder
	for {
		more := sc.Scan()
		line := sc.Text()
		if !more || line == "" { // end of an event
			if data.Len() > 0 {
				var r rpcResponse
				if err := json.Unmarshal([]byte(data.String()), &r); err == nil && string(r.ID) == id {
					return &r, nil
				}
				data.Reset()
			}
			if !more {
				if err := sc.Err(); err != nil {
					return nil, err
				}
				return nil, errors.New("event stream ended without the response")
			}
			continue
		}
		if v, ok := strings.CutPrefix(line, "data:"); ok {
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(v, " "))
		}
	}
}
