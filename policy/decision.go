package policy

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/openlegant/legant/authority"
)

// Call is one tools/call as the upstream will receive it.
type Call struct {
	// Tool is the bare tool name ("submit_expense").
	Tool string
	// Arguments is the raw "arguments" object exactly as the upstream will
	// parse it (never re-encoded). nil, empty or JSON null mean {}.
	Arguments json.RawMessage
	// At is the instant the call is made; windows are checked against it.
	// The zero time fails any window.
	At time.Time
	// ArgumentsChecked says the caller has already checked that Arguments is
	// one JSON value in valid UTF-8 without duplicate object names (the
	// gateway's envelope decoder does, in the one scan of the request), so
	// Decide does not scan them a second time. False: Decide checks.
	ArgumentsChecked bool
}

// Decision is the outcome of Decide or Authorize. The zero Decision denies.
type Decision struct {
	Allow  bool
	Reason Reason
	// Constraint names what decided a denial: the token constraint
	// ("max_amount", "categories"…), "scope", "tools", or "arguments"; "" when allowed.
	Constraint string
	// Argument is the pointer of the argument at fault ("/amount"), if any.
	Argument string
	// Limit is the limit that was exceeded, in wire form ("500", "USD").
	Limit string
	// Value is the offending value ("700"), shortened to MaxValueLen runes.
	Value string
	// URI is the resource URI a resource_not_bound denial is about, echoed
	// in data.uri as MCP's resource-not-found error carries it (SEP-2164).
	URI string
	// Message is a human sentence, also sent to the client: "denied: amount 700 exceeds max_amount 500".
	Message string

	// Amount is the call's amount when the binding names one and it was read;
	// nil otherwise. Used to reserve budget and in the audit record.
	Amount *authority.Money
	// Category and Resource are the normalized values that were checked ("" when unbound).
	Category, Resource string

	// Cause is the internal error behind ReasonUnavailable, for the log only:
	// it is never part of RPCError.
	Cause error
}

// MaxValueLen bounds Decision.Value and the values quoted in messages, so a
// megabyte argument is not echoed back.
const MaxValueLen = 64

// RPCError is a JSON-RPC 2.0 error object, ready to marshal.
type RPCError struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Data    *RPCErrorData `json:"data,omitempty"`
}

// RPCErrorData is the machine-readable part of a denial.
type RPCErrorData struct {
	Reason   Reason `json:"reason"`
	URI      string `json:"uri,omitempty"`
	Argument string `json:"argument,omitempty"`
	Limit    string `json:"limit,omitempty"`
	Value    string `json:"value,omitempty"`
	// Approval is the id of the approval request of a four-eyes call
	// (ReasonApprovalRequired, ReasonApprovalDeclined).
	Approval string `json:"approval,omitempty"`
}

// Error implements error.
func (e *RPCError) Error() string { return fmt.Sprintf("json-rpc error %d: %s", e.Code, e.Message) }

// RPCError returns the JSON-RPC error the client receives for a denial, or
// nil when d allows. Example:
//
//	{"code":-32030,"message":"denied: amount 700 exceeds max_amount 500","data":{"reason":"max_amount","limit":"500","value":"700"}}
func (d Decision) RPCError() *RPCError {
	if d.Allow {
		return nil
	}
	reason := d.Reason
	if reason == "" || reason == ReasonAllowed {
		reason = ReasonToolNotBound // a zero Decision denies; never claim "allowed"
	}
	msg := d.Message
	if msg == "" {
		msg = "denied: " + string(reason)
	}
	return &RPCError{
		Code:    reason.Code(),
		Message: msg,
		Data:    &RPCErrorData{Reason: reason, URI: d.URI, Argument: d.Argument, Limit: d.Limit, Value: d.Value},
	}
}

// Deny builds a denial with a message "denied: " + the formatted detail.
// The gateway uses it for the reasons it decides itself (unauthenticated,
// revoked, killed).
func Deny(r Reason, format string, args ...any) Decision {
	return Decision{Reason: r, Message: "denied: " + fmt.Sprintf(format, args...)}
}

// shorten bounds s to MaxValueLen runes, marking the cut with "…".
func shorten(s string) string {
	if utf8.RuneCountInString(s) <= MaxValueLen {
		return s
	}
	r := []rune(s)
	return string(r[:MaxValueLen]) + "…"
}
