package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultURL is where `legant gateway` serves the admin API unless told
// otherwise (--admin-listen).
const DefaultURL = "http://127.0.0.1:8081"

// Client calls the admin API. Its zero value is not usable: BaseURL and
// Token are required. A Client is safe for concurrent use.
type Client struct {
	BaseURL string // e.g. DefaultURL
	Token   string // the admin token
	// HTTPClient sends the requests; nil means one with a 30-second timeout.
	HTTPClient *http.Client
}

var defaultHTTPClient = &http.Client{Timeout: 30 * time.Second}

// Sessions lists the sessions q selects, every replica's.
func (c *Client) Sessions(ctx context.Context, q SessionQuery) ([]Session, error) {
	var out SessionList
	u := "/v1/sessions"
	if v := q.values(); len(v) > 0 {
		u += "?" + v.Encode()
	}
	if err := c.do(ctx, http.MethodGet, u, nil, &out); err != nil {
		return nil, err
	}
	return out.Sessions, nil
}

// Session returns one session; an *Error with status 404 if there is none.
func (c *Client) Session(ctx context.Context, id string) (*Session, error) {
	var out Session
	if err := c.do(ctx, http.MethodGet, "/v1/sessions/"+url.PathEscape(id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Kill asks for a kill (see Server.Kill). When the server could not do all
// of it, the result comes back with an *Error of code "incomplete".
func (c *Client) Kill(ctx context.Context, req KillRequest) (*KillResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var out KillResult
	err = c.do(ctx, http.MethodPost, "/v1/kill", body, &out)
	if e := (*Error)(nil); errors.As(err, &e) && e.Code == "incomplete" {
		return &out, err
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// do sends one request and decodes the answer into out.
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin API: read the answer: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return decode(data, out)
	case resp.StatusCode == http.StatusServiceUnavailable && path == "/v1/kill":
		if err := decode(data, out); err != nil {
			return err
		}
		res := out.(*KillResult)
		return &Error{Status: resp.StatusCode, Code: "incomplete", Description: strings.Join(res.Incomplete, "; ")}
	}
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(data, e) != nil || e.Code == "" {
		e.Code, e.Description = "http_error", strings.TrimSpace(http.StatusText(resp.StatusCode))
	}
	return e
}

func decode(data []byte, out any) error {
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API: unexpected answer: %w", err)
	}
	return nil
}
