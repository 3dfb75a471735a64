package admin

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openlegant/legant/issuer/store"
)

// Session is a gateway session as the admin API shows it. The upstream's own
// session id stays internal.
type Session struct {
	ID              string    `json:"id"`
	User            string    `json:"user"`
	Agents          []string  `json:"agents"` // the act chain, oldest first
	Client          string    `json:"client,omitempty"`
	Upstream        string    `json:"upstream"` // slug
	ProtocolVersion string    `json:"protocol_version,omitempty"`
	TokenID         string    `json:"jti,omitempty"` // of the token that opened it
	State           string    `json:"state"`         // live, killed or closed
	Started         time.Time `json:"started"`
	LastActivity    time.Time `json:"last_activity"`
	CallsAllowed    int64     `json:"calls_allowed"`
	CallsDenied     int64     `json:"calls_denied"`
	AmountSpent     string    `json:"amount_spent"` // exact decimal
	EndReason       string    `json:"end_reason,omitempty"`
	Ended           time.Time `json:"ended,omitzero"`
}

func sessionOf(se *store.Session) Session {
	agents := se.Agents
	if agents == nil {
		agents = []string{}
	}
	return Session{ID: se.ID, User: se.User, Agents: agents, Client: se.Client, Upstream: se.Upstream,
		ProtocolVersion: se.ProtocolVersion, TokenID: se.TokenID, State: string(se.State),
		Started: se.Started.UTC(), LastActivity: se.LastActivity.UTC(), CallsAllowed: se.CallsAllowed,
		CallsDenied: se.CallsDenied, AmountSpent: se.AmountSpent.String(), EndReason: se.EndReason,
		Ended: utcOrZero(se.Ended)}
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// SessionList is the answer to GET /v1/sessions.
type SessionList struct {
	Sessions []Session `json:"sessions"`
}

// Limits of GET /v1/sessions.
const (
	DefaultListLimit = 1000
	MaxListLimit     = 10000
)

// SessionQuery selects sessions; zero fields do not filter. Limit 0 means
// DefaultListLimit.
type SessionQuery struct {
	User     string
	Agent    string // sessions whose act chain contains it
	Upstream string
	State    string // live, killed or closed
	TokenID  string // jti of the token that opened it
	Limit    int
}

// values encodes q as the query parameters of GET /v1/sessions.
func (q SessionQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"user": q.User, "agent": q.Agent, "upstream": q.Upstream, "state": q.State, "jti": q.TokenID} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// parseSessionQuery reads and checks the query parameters of GET /v1/sessions.
func parseSessionQuery(v url.Values) (SessionQuery, error) {
	q := SessionQuery{User: v.Get("user"), Agent: v.Get("agent"), Upstream: v.Get("upstream"),
		State: v.Get("state"), TokenID: v.Get("jti"), Limit: DefaultListLimit}
	switch store.SessionState(q.State) {
	case "", store.SessionLive, store.SessionKilled, store.SessionClosed:
	default:
		return q, fmt.Errorf("state must be live, killed or closed, not %q", q.State)
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			return q, fmt.Errorf("limit must be a number from 1 to %d", MaxListLimit)
		}
		q.Limit = n
	}
	return q, nil
}

func (q SessionQuery) filter() store.SessionFilter {
	return store.SessionFilter{User: q.User, Agent: q.Agent, Upstream: q.Upstream,
		TokenID: q.TokenID, State: store.SessionState(q.State), Limit: q.Limit}
}

// KillRequest is the body of POST /v1/kill: exactly one selector (Session,
// TokenID, Delegation, Agent or User), why, and who asks.
type KillRequest struct {
	Session    string `json:"session,omitempty"`
	TokenID    string `json:"jti,omitempty"`
	Delegation string `json:"delegation,omitempty"`
	Agent      string `json:"agent,omitempty"`
	User       string `json:"user,omitempty"`
	// Reason is required: it goes to the store, the revocation feed and the
	// audit log.
	Reason string `json:"reason"`
	// Actor names who asked (a person, a SOAR playbook); it is recorded in
	// the audit log as the kill event's client, "admin:<actor>".
	Actor string `json:"actor,omitempty"`
}

// Bounds of KillRequest text fields.
const (
	maxSelectorLen = 512
	maxReasonLen   = 1000
	maxActorLen    = 200
)

// selector returns the one selector of r, checking the request.
func (r KillRequest) selector() (kind, value string, err error) {
	n := 0
	for _, f := range []struct{ k, v string }{{"session", r.Session}, {"jti", r.TokenID},
		{"delegation", r.Delegation}, {"agent", r.Agent}, {"user", r.User}} {
		if f.v != "" {
			n++
			kind, value = f.k, f.v
		}
	}
	switch {
	case n != 1:
		return "", "", fmt.Errorf("name exactly one of session, jti, delegation, agent or user (got %d)", n)
	case len(value) > maxSelectorLen:
		return "", "", fmt.Errorf("%s is longer than %d bytes", kind, maxSelectorLen)
	case r.Reason == "":
		return "", "", fmt.Errorf("reason is required")
	case len(r.Reason) > maxReasonLen:
		return "", "", fmt.Errorf("reason is longer than %d bytes", maxReasonLen)
	case len(r.Actor) > maxActorLen:
		return "", "", fmt.Errorf("actor is longer than %d bytes", maxActorLen)
	case strings.ContainsRune(value+r.Reason+r.Actor, 0):
		return "", "", fmt.Errorf("text fields must not contain NUL")
	}
	return kind, value, nil
}

// KillResult is the answer to POST /v1/kill.
type KillResult struct {
	// Selector is what was killed, e.g. "session=…" or "agent=planner".
	Selector string `json:"selector"`
	// Sessions are the sessions this kill marked killed in the store, on
	// whichever replica they run.
	Sessions []string `json:"sessions"`
	// Revocations are what the kill revoked in the store (empty when it was
	// revoked already). Every replica kills what they cover.
	Revocations []Revocation `json:"revocations"`
	// Local is what the kill stopped on the replica that answered, by its
	// own call to the gateway. Sessions this replica's revocation
	// subscription stopped first (during the revocation) are not repeated
	// here; they are in Sessions.
	Local *LocalKill `json:"local,omitempty"`
	// Incomplete lists what could not be done (the store unreachable: the
	// kill then holds on this replica only). The status is 503 when set.
	Incomplete []string `json:"incomplete,omitempty"`
}

// LocalKill is what one replica's gateway stopped.
type LocalKill struct {
	Sessions []string `json:"sessions"` // sessions ended
	Calls    int      `json:"calls"`    // in-flight upstream requests cut
}

// Revocation is one revocation a kill recorded.
type Revocation struct {
	Kind    string `json:"kind"` // jti, delegation, agent or user
	Value   string `json:"value"`
	Version int64  `json:"version"` // of the revocation feed
}

// Error is an error answer of the admin API.
type Error struct {
	Status      int    `json:"-"`
	Code        string `json:"error"` // invalid_request, unauthorized, not_found, store_unavailable, incomplete
	Description string `json:"error_description"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("admin API: %s (%d %s)", e.Description, e.Status, e.Code)
}
