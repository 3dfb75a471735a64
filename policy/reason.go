package policy

// Reason is the machine-readable cause of a decision. It travels to the client
// in the JSON-RPC error's data.reason and to the audit log; its values are a
// stable wire contract (docs/POLICY.md lists them).
type Reason string

// Reasons Decide and Authorize return.
const (
	// ReasonAllowed: every check passed.
	ReasonAllowed Reason = "allowed"
	// ReasonToolNotBound: the upstream's registry has no binding for the tool
	// (or no claims were given): unregistered tools are invisible and uncallable.
	ReasonToolNotBound Reason = "tool_not_bound"
	// ReasonInsufficientScope: the token lacks the scope the binding requires.
	ReasonInsufficientScope Reason = "insufficient_scope"
	// ReasonToolNotAllowed: the tool is not in the token's tools allow-list.
	ReasonToolNotAllowed Reason = "tool_not_allowed"
	// ReasonInvalidArgument: the arguments are not a strict JSON object, or a
	// bound argument is missing, of the wrong JSON type, ambiguous (duplicate or
	// case-variant key) or malformed (exponent, negative amount, bad currency code…).
	ReasonInvalidArgument Reason = "invalid_argument"
	// ReasonMaxAmount: the call's amount exceeds the per-call max_amount.
	ReasonMaxAmount Reason = "max_amount"
	// ReasonCurrency: the call's currency differs from (or does not state) the
	// currency of the token's max_amount or budget.
	ReasonCurrency Reason = "currency"
	// ReasonCategory: the normalized category is not in the token's categories.
	ReasonCategory Reason = "category"
	// ReasonResource: the canonical resource is not in the token's resources.
	ReasonResource Reason = "resource"
	// ReasonWindow: the call's instant is outside the token's time window.
	ReasonWindow Reason = "window"
	// ReasonBudget: the amount would take the delegation's cumulative spending
	// (settled plus held) over its budget.
	ReasonBudget Reason = "budget"
	// ReasonMaxCalls: the call would exceed the delegation's max_calls.
	ReasonMaxCalls Reason = "max_calls"
	// ReasonUnavailable: the budget ledger could not be reached; the call is
	// denied (fail closed).
	ReasonUnavailable Reason = "unavailable"

	// ReasonNotNotification: a message without an id whose method is not a
	// notifications/* method (or a notification method with an id). Answered
	// with JSON-RPC's -32600 Invalid Request; nothing is forwarded.
	ReasonNotNotification Reason = "not_a_notification"
	// ReasonMethodNotAllowed: a method the gateway does not know and the
	// upstream's registry does not allow. Answered with -32601.
	ReasonMethodNotAllowed Reason = "method_not_allowed"
	// ReasonMethodRemoved: a method the request's protocol revision removed
	// (2026-07-28: initialize, ping, logging/setLevel, resources/subscribe,
	// resources/unsubscribe, tasks/result, tasks/list…). Answered with -32601
	// (HTTP 404 in that revision), as the server itself would.
	ReasonMethodRemoved Reason = "method_removed"
	// ReasonResourceNotBound: no resource grant of the registry covers the URI
	// (or template): unregistered resources are invisible and unreadable.
	// Answered exactly as a resource that does not exist (MCP's -32602
	// "Resource not found" with data.uri, SEP-2164), data.reason added.
	ReasonResourceNotBound Reason = "resource_not_bound"
	// ReasonPromptNotBound: the registry has no binding for the prompt.
	ReasonPromptNotBound Reason = "prompt_not_bound"
	// ReasonCompletionRef: completion/complete names a prompt or resource
	// template the token may not use, or no valid ref at all.
	ReasonCompletionRef Reason = "completion_ref"
	// ReasonRequestState: a request carries an MRTR requestState the gateway
	// relayed to another principal (a replay).
	ReasonRequestState Reason = "request_state"
	// ReasonDefinitionChanged: the upstream lists a pinned tool, prompt or
	// resource template with a definition whose digest differs from the
	// registry's pin (a "rug pull"): hidden and refused until approved.
	ReasonDefinitionChanged Reason = "definition_changed"
	// ReasonTaskNotFound: the task is unknown to the gateway or belongs to
	// another principal or session. Answered like a task that does not exist.
	ReasonTaskNotFound Reason = "task_not_found"
)

// Reasons the gateway decides before policy runs; policy never returns them but
// owns their names and codes so that every denial a client sees has one shape.
const (
	// ReasonUnauthenticated: no valid token (missing, bad signature, expired,
	// wrong issuer or audience).
	ReasonUnauthenticated Reason = "unauthenticated"
	// ReasonRevoked: the token or its delegation was revoked.
	ReasonRevoked Reason = "revoked"
	// ReasonKilled: the session, token, agent or user was killed.
	ReasonKilled Reason = "killed"
	// ReasonHoneytool: the call named a bait tool (Binding.Honeytool); the
	// gateway kills the session.
	ReasonHoneytool Reason = "honeytool"
	// ReasonApprovalRequired: the call is allowed but its tool needs a
	// second human's approval (Binding.Approval), which this exact call does
	// not have yet; data.approval names the request. Retry the same call once
	// it is approved.
	ReasonApprovalRequired Reason = "approval_required"
	// ReasonApprovalDeclined: an approver declined this exact call; the next
	// attempt opens a new request.
	ReasonApprovalDeclined Reason = "approval_declined"
	// ReasonSelfApproval: an approver tried to approve a call made by
	// themselves or by a chain they are part of.
	ReasonSelfApproval Reason = "self_approval"
	// ReasonNotApprover: the user is not among the tool's approvers.
	ReasonNotApprover Reason = "not_an_approver"
	// ReasonApprovalNotFound: no open approval request has that id (never
	// made, already decided, used, expired or cancelled).
	ReasonApprovalNotFound Reason = "approval_not_found"
)

// JSON-RPC error codes of a denial. The range -32000..-32099 is reserved by
// JSON-RPC 2.0 for implementation-defined server errors. Legant uses
// -32030..-32039: the low codes are taken in practice (the official MCP Go
// SDK treats -32003 and -32004 as "client/server closing" and tears the call
// down as a closed connection; -32001 is its "unknown error", -32002 MCP's
// resource-not-found, -32020..-32022 and -32042 are MCP's own).
const (
	// CodeUnauthenticated answers ReasonUnauthenticated (HTTP 401 carries the
	// WWW-Authenticate challenge when the transport allows it).
	CodeUnauthenticated = -32031
	// CodeRevoked answers ReasonRevoked.
	CodeRevoked = -32032
	// CodeDenied answers every policy denial: scope, tools, arguments,
	// constraints, budget, call count.
	CodeDenied = -32030
	// CodeKilled answers ReasonKilled.
	CodeKilled = -32033
	// CodeUnavailable answers ReasonUnavailable (authorization state could not
	// be read; retrying later may succeed).
	CodeUnavailable = -32034
	// CodeApprovalRequired answers ReasonApprovalRequired and
	// ReasonApprovalDeclined: the call waits for (or was refused by) a second
	// human.
	CodeApprovalRequired = -32036
	// CodeInvalidRequest is JSON-RPC's Invalid Request, for ReasonNotNotification.
	CodeInvalidRequest = -32600
	// CodeMethodNotFound is JSON-RPC's Method not found, for ReasonMethodNotAllowed.
	CodeMethodNotFound = -32601
	// CodeInvalidParams is JSON-RPC's Invalid params: what MCP answers for a
	// task id or a resource it does not know, and so what ReasonTaskNotFound
	// and ReasonResourceNotBound are answered with.
	CodeInvalidParams = -32602
)

// Code returns the JSON-RPC error code for a denial with this reason.
func (r Reason) Code() int {
	switch r {
	case ReasonUnauthenticated:
		return CodeUnauthenticated
	case ReasonRevoked:
		return CodeRevoked
	case ReasonKilled, ReasonHoneytool:
		return CodeKilled
	case ReasonUnavailable:
		return CodeUnavailable
	case ReasonApprovalRequired, ReasonApprovalDeclined:
		return CodeApprovalRequired
	case ReasonNotNotification:
		return CodeInvalidRequest
	case ReasonMethodNotAllowed, ReasonMethodRemoved:
		return CodeMethodNotFound
	case ReasonTaskNotFound, ReasonResourceNotBound:
		return CodeInvalidParams
	default:
		return CodeDenied
	}
}

// String returns the wire form.
func (r Reason) String() string { return string(r) }
