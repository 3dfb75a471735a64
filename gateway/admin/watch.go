package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/r3labs/sse/v2"
	"gopkg.in/cenkalti/backoff.v1"

	"github.com/openlegant/legant/authority/audit"
)

// WatchQuery selects what Client.Watch streams.
type WatchQuery struct {
	Filter EventFilter
	// After starts the stream after this sequence number; 0 means the last
	// Backlog events.
	After int64
	// Backlog is how many past events to start with when After is 0; 0
	// means none (only what happens from now on).
	Backlog int
}

// Watch streams audit events (GET /console/events) to f until ctx ends, f
// returns an error, or the server refuses the request. A dropped connection
// is reopened with Last-Event-ID, so no event is missed or repeated. It
// returns nil when ctx ends.
func (c *Client) Watch(ctx context.Context, q WatchQuery, f func(audit.Event) error) error {
	v := url.Values{}
	q.Filter.values(v)
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	} else {
		v.Set("backlog", strconv.Itoa(q.Backlog))
	}
	sc := sse.NewClient(strings.TrimSuffix(c.BaseURL, "/") + "/console/events?" + v.Encode())
	sc.Headers["Authorization"] = "Bearer " + c.Token
	if c.HTTPClient != nil {
		sc.Connection = c.HTTPClient
	}
	sc.ResponseValidator = func(_ *sse.Client, resp *http.Response) error {
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		defer resp.Body.Close()
		e := &Error{Status: resp.StatusCode}
		if json.NewDecoder(resp.Body).Decode(e) != nil || e.Code == "" {
			e.Code, e.Description = "http_error", http.StatusText(resp.StatusCode)
		}
		if resp.StatusCode >= 500 {
			return e // retried
		}
		return backoff.Permanent(e)
	}
	sub, stop := context.WithCancel(ctx)
	defer stop()
	sc.ReconnectStrategy = backoff.WithContext(backoff.NewExponentialBackOff(), sub)
	var ferr error
	err := sc.SubscribeWithContext(sub, "", func(m *sse.Event) {
		if ferr != nil || len(m.Data) == 0 {
			return
		}
		var w wireEvent
		if err := json.Unmarshal(m.Data, &w); err != nil {
			ferr = fmt.Errorf("watch: event %s: %w", m.ID, err)
		} else {
			ferr = f(w.event())
		}
		if ferr != nil {
			stop()
		}
	})
	if ferr != nil {
		return ferr
	}
	var pe *backoff.PermanentError
	if errors.As(err, &pe) {
		return pe.Err
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// wireEvent reads the JSON form of an audit event (audit.Event.MarshalJSON).
type wireEvent struct {
	Seq        int64      `json:"seq"`
	Time       time.Time  `json:"time"`
	Kind       audit.Kind `json:"kind"`
	User       string     `json:"user"`
	Agents     []string   `json:"agents"`
	Client     string     `json:"client"`
	Upstream   string     `json:"upstream"`
	Method     string     `json:"method"`
	Tool       string     `json:"tool"`
	Decision   string     `json:"decision"`
	Reason     string     `json:"reason"`
	Constraint string     `json:"constraint"`
	Limit      string     `json:"limit"`
	Value      string     `json:"value"`
	TokenID    string     `json:"jti"`
	SessionID  string     `json:"session"`
	ArgsHash   string     `json:"args_hash"`
	PrevHash   string     `json:"prev_hash"`
	Hash       string     `json:"hash"`
}

func (w wireEvent) event() audit.Event {
	return audit.Event{Seq: w.Seq, Time: w.Time, Kind: w.Kind, User: w.User, Agents: w.Agents, Client: w.Client,
		Upstream: w.Upstream, Method: w.Method, Tool: w.Tool, Decision: w.Decision, Reason: w.Reason,
		Constraint: w.Constraint, Limit: w.Limit, Value: w.Value, TokenID: w.TokenID, SessionID: w.SessionID,
		ArgsHash: w.ArgsHash, PrevHash: w.PrevHash, Hash: w.Hash}
}
