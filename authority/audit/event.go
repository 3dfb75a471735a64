package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind says what an event records.
type Kind string

// The kinds of events Legant records.
const (
	KindAllow        Kind = "allow"         // a tools/call was authorized
	KindDeny         Kind = "deny"          // a tools/call was refused by policy
	KindEdge401      Kind = "edge_401"      // a request failed authentication at the edge
	KindEdge403      Kind = "edge_403"      // a request was forbidden at the edge (origin, session owner…)
	KindKill         Kind = "kill"          // a session was killed
	KindMint         Kind = "mint"          // the issuer minted a token
	KindRevoke       Kind = "revoke"        // a token, delegation, agent or user was revoked
	KindConfigReload Kind = "config_reload" // the upstream registry was reloaded
	KindKeyRotation  Kind = "key_rotation"  // a signing key was added or retired
	KindSessionStart Kind = "session_start" // a gateway session started
	KindSessionEnd   Kind = "session_end"   // a gateway session ended
	KindDropped      Kind = "dropped"       // events a producer could not queue (counted, sampled)
	KindDrain        Kind = "drain"         // the gateway began or finished draining before shutdown
	// KindDefinitionChanged: an upstream listed a pinned tool, prompt or
	// template whose definition differs from its pin (Limit: the pin,
	// Value: the listed digest); recorded once per change.
	KindDefinitionChanged Kind = "definition_changed"
	// Four-eyes approvals (the gateway's approval.go). User, Agents, Client
	// and TokenID are the requester's; Constraint is "approval", Limit the
	// request's id and Value the approver's user (the second human) when one
	// acted.
	KindApprovalRequested Kind = "approval_requested" // a call waits for a second human
	KindApprovalGranted   Kind = "approval_granted"   // the approver accepted
	KindApprovalDeclined  Kind = "approval_declined"  // the approver declined
	KindApprovalRefused   Kind = "approval_refused"   // an approval attempt was refused (self, chain, not an approver)
	KindApprovalCancelled Kind = "approval_cancelled" // a kill or revocation ended the request
)

// Event is one entry of the audit chain.
//
// Seq, PrevHash and Hash are assigned by the log when the event is appended;
// whatever a producer puts there is overwritten. A zero Time is replaced by
// the time of the append.
type Event struct {
	Seq      int64
	Time     time.Time
	Kind     Kind
	User     string   // the principal the agents act for (token sub)
	Agents   []string // the act chain, oldest first
	Client   string
	Upstream string // upstream slug
	Method   string // JSON-RPC method, e.g. "tools/call"
	Tool     string
	Decision string // e.g. "allow", "deny"
	Reason   string // machine-readable reason or human detail
	// Constraint, Limit and Value say which constraint decided a denial and
	// with what values, e.g. "max_amount", "500", "700".
	Constraint string
	Limit      string
	Value      string
	TokenID    string // jti
	SessionID  string // gateway session id
	// ArgsHash is the lowercase hex SHA-256 of the raw tool arguments. When it
	// is empty and Args is set, the log computes it.
	ArgsHash string
	// Args are the raw arguments. The log keeps them only when configured to;
	// they are not part of the chain hash (ArgsHash is), so they can be erased
	// later without breaking the chain, and a verifier checks them against
	// ArgsHash when they are present.
	Args     json.RawMessage
	PrevHash string
	Hash     string
	// ID is an optional producer-assigned unique id. The log writes an event
	// with a given ID at most once, so a producer may retry an append whose
	// outcome it does not know. It is not part of the chain hash; "" means
	// none (every append is written).
	ID string
}

// ErrInvalidEvent reports an event that cannot be recorded as given.
var ErrInvalidEvent = errors.New("invalid audit event")

// minTime and maxTime bound the instants an int64 of nanoseconds can hold.
var (
	minTime = time.Unix(0, -1<<63+1)
	maxTime = time.Unix(0, 1<<63-1)
)

// Validate reports whether e can be recorded: a kind of lower-case letters,
// digits and underscores, a time in the range of int64 nanoseconds, text
// fields of valid UTF-8 without NUL bytes, and an ArgsHash that is empty or
// 64 lowercase hex digits matching Args when both are present.
func (e *Event) Validate() error {
	if !validKind(string(e.Kind)) {
		return fmt.Errorf("%w: kind %q", ErrInvalidEvent, e.Kind)
	}
	if e.Time.Before(minTime) || e.Time.After(maxTime) {
		return fmt.Errorf("%w: time %v out of range", ErrInvalidEvent, e.Time)
	}
	for _, f := range e.textFields() {
		if !validText(f.value) {
			return fmt.Errorf("%w: %s is not valid UTF-8 text", ErrInvalidEvent, f.name)
		}
	}
	for i, a := range e.Agents {
		if !validText(a) {
			return fmt.Errorf("%w: agents[%d] is not valid UTF-8 text", ErrInvalidEvent, i)
		}
	}
	if e.ArgsHash != "" && !isHexHash(e.ArgsHash) {
		return fmt.Errorf("%w: args_hash %q is not a lowercase hex SHA-256", ErrInvalidEvent, e.ArgsHash)
	}
	if e.Args != nil && e.ArgsHash != "" && ArgsHash(e.Args) != e.ArgsHash {
		return fmt.Errorf("%w: args_hash does not match args", ErrInvalidEvent)
	}
	return nil
}

// textField is a free-text field of an event, by name.
type textField struct{ name, value string }

// textFields lists the free-text fields other than Agents by name, for
// validation (an array: validating an event allocates nothing).
func (e *Event) textFields() [12]textField {
	return [12]textField{{"user", e.User}, {"client", e.Client}, {"upstream", e.Upstream}, {"method", e.Method},
		{"tool", e.Tool}, {"decision", e.Decision}, {"reason", e.Reason}, {"constraint", e.Constraint},
		{"limit", e.Limit}, {"value", e.Value}, {"token_id", e.TokenID}, {"session_id", e.SessionID}}
}

// validText reports whether v is UTF-8 without NUL.
func validText(v string) bool { return utf8.ValidString(v) && !strings.ContainsRune(v, 0) }

func validKind(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, r := range k {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

func isHexHash(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// ArgsHash returns the lowercase hex SHA-256 of raw arguments, exactly as
// received (no re-encoding).
func ArgsHash(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// Sanitized returns e with every free-text field made valid UTF-8 without NUL
// bytes (each bad sequence becomes U+FFFD), so that an odd value in a request
// can never make the log refuse an event — which would stall the log and,
// failing closed, the gateway.
func (e Event) Sanitized() Event {
	agents := make([]string, len(e.Agents))
	for i, a := range e.Agents {
		agents[i] = text(a)
	}
	e.Agents = agents
	for _, f := range []*string{&e.User, &e.Client, &e.Upstream, &e.Method, &e.Tool, &e.Decision,
		&e.Reason, &e.Constraint, &e.Limit, &e.Value, &e.TokenID, &e.SessionID} {
		*f = text(*f)
	}
	return e
}

func text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\ufffd"), "\x00", "\ufffd")
}

// eventJSON is the JSON form of an event (`legant audit tail --json`, the
// admin API): field names as in docs/AUDIT.md, the time canonical.
type eventJSON struct {
	Seq        int64           `json:"seq"`
	Time       string          `json:"time"`
	Kind       Kind            `json:"kind"`
	User       string          `json:"user,omitempty"`
	Agents     []string        `json:"agents,omitempty"`
	Client     string          `json:"client,omitempty"`
	Upstream   string          `json:"upstream,omitempty"`
	Method     string          `json:"method,omitempty"`
	Tool       string          `json:"tool,omitempty"`
	Decision   string          `json:"decision,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	Constraint string          `json:"constraint,omitempty"`
	Limit      string          `json:"limit,omitempty"`
	Value      string          `json:"value,omitempty"`
	TokenID    string          `json:"jti,omitempty"`
	SessionID  string          `json:"session,omitempty"`
	ArgsHash   string          `json:"args_hash,omitempty"`
	Args       json.RawMessage `json:"args,omitempty"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}

// MarshalJSON encodes e in its one JSON form (see eventJSON).
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(eventJSON{e.Seq, CanonicalTime(e.Time), e.Kind, e.User, e.Agents, e.Client, e.Upstream,
		e.Method, e.Tool, e.Decision, e.Reason, e.Constraint, e.Limit, e.Value, e.TokenID, e.SessionID,
		e.ArgsHash, e.Args, e.PrevHash, e.Hash})
}
