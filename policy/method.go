package policy

import "strings"

// MethodClass is what a client's JSON-RPC method is to the gateway: which
// decision governs it. The zero value is MethodUnknown (refused).
type MethodClass uint8

const (
	// MethodUnknown: a method the gateway does not know. Refused (-32601)
	// unless the upstream's registry entry lists it under methods.
	MethodUnknown MethodClass = iota
	// MethodSession: initialize, ping, server/discover, logging/setLevel,
	// subscriptions/listen: no object is touched; forwarded.
	MethodSession
	// MethodList: tools/list, resources/list, resources/templates/list,
	// prompts/list: forwarded, the result filtered to what the token may see.
	MethodList
	// MethodTool: tools/call, decided by Decide/Authorize.
	MethodTool
	// MethodResource: resources/read, resources/subscribe,
	// resources/unsubscribe, decided by DecideResource.
	MethodResource
	// MethodPrompt: prompts/get, decided by DecidePrompt.
	MethodPrompt
	// MethodCompletion: completion/complete, allowed only for a prompt or
	// resource template the token may use (DecideCompletion).
	MethodCompletion
	// MethodTask: tasks/get, tasks/list, tasks/result, tasks/cancel.
	MethodTask
	// MethodNotification: a notification the client may send
	// (notifications/initialized, cancelled, progress, roots/list_changed).
	MethodNotification
	// MethodCustom: a method the registry allows for this upstream.
	MethodCustom
)

// clientMethods are the client-to-server methods of MCP up to 2026-07-28.
var clientMethods = map[string]MethodClass{
	"initialize":               MethodSession,
	"ping":                     MethodSession,
	"server/discover":          MethodSession,
	"logging/setLevel":         MethodSession,
	"subscriptions/listen":     MethodSession,
	"tools/list":               MethodList,
	"resources/list":           MethodList,
	"resources/templates/list": MethodList,
	"prompts/list":             MethodList,
	"tools/call":               MethodTool,
	"resources/read":           MethodResource,
	"resources/subscribe":      MethodResource,
	"resources/unsubscribe":    MethodResource,
	"prompts/get":              MethodPrompt,
	"completion/complete":      MethodCompletion,
	"tasks/get":                MethodTask,
	"tasks/list":               MethodTask,
	"tasks/result":             MethodTask,
	"tasks/cancel":             MethodTask,

	"notifications/initialized":        MethodNotification,
	"notifications/cancelled":          MethodNotification,
	"notifications/progress":           MethodNotification,
	"notifications/roots/list_changed": MethodNotification,
}

// RevisionStateless is the first MCP revision without sessions
// (2026-07-28). Revisions compare as strings.
const RevisionStateless = "2026-07-28"

// removedMethods are the client methods revision 2026-07-28 removed: the
// session handshake and its utilities (initialize, ping, logging/setLevel,
// notifications/initialized, notifications/roots/list_changed), resource
// subscriptions (resources/subscribe, resources/unsubscribe: replaced by
// subscriptions/listen) and, in the tasks extension's v2 (SEP-2663),
// tasks/result (the result is inlined in tasks/get) and tasks/list. The
// list is go-sdk v1.8.0's (mcp/server.go, the "not supported in the new
// protocol" case) plus SEP-2663's two, and what the official conformance
// suite probes (server-stateless, tasks-dispatch-and-envelope). A server of
// that revision answers them -32601 (HTTP 404), and so does the gateway,
// before anything is forwarded.
var removedMethods = map[string]bool{
	"initialize":                       true,
	"ping":                             true,
	"logging/setLevel":                 true,
	"resources/subscribe":              true,
	"resources/unsubscribe":            true,
	"tasks/result":                     true,
	"tasks/list":                       true,
	"notifications/initialized":        true,
	"notifications/roots/list_changed": true,
}

// Removed reports whether revision (a Mcp-Protocol-Version, "" when
// unknown) removed the client method: see removedMethods.
func Removed(method, revision string) bool {
	return revision >= RevisionStateless && removedMethods[method]
}

// notificationPrefix is what every MCP notification method starts with.
const notificationPrefix = "notifications/"

// ClassifyMethod decides how the gateway treats a client message with this
// method: hasID says whether it carries an id (a request) or not (a
// notification); revision is the protocol revision the message is sent in
// ("" when unknown: the session era's methods apply); custom reports whether the upstream's registry allows a
// method the gateway does not know. The Decision denies:
//
//   - a method without an id that is not a notifications/* method
//     (ReasonNotNotification, -32600): a tools/call without an id is not a
//     notification the gateway may let through undecided;
//   - a request whose method is a notification, or a notification that is
//     a request method (ReasonNotNotification, -32600);
//   - a method the revision removed (Removed; ReasonMethodRemoved, -32601);
//   - a method it does not know and custom does not allow
//     (ReasonMethodNotAllowed, -32601).
//
// Otherwise it allows, and the class names the decision that comes next.
// ClassifyMethod is pure and safe for concurrent use; custom may be nil.
func ClassifyMethod(method string, hasID bool, revision string, custom func(string) bool) (MethodClass, Decision) {
	class, known := clientMethods[method]
	isNotification := strings.HasPrefix(method, notificationPrefix)
	switch {
	case !hasID && !isNotification:
		d := Deny(ReasonNotNotification, "invalid request: %s without an id is not a notification", shorten(method))
		d.Value = shorten(method)
		return MethodUnknown, d
	case hasID && isNotification:
		d := Deny(ReasonNotNotification, "invalid request: %s is a notification and must not carry an id", shorten(method))
		d.Value = shorten(method)
		return MethodUnknown, d
	case Removed(method, revision):
		d := Deny(ReasonMethodRemoved, "method %s is not part of protocol revision %s", method, shorten(revision))
		d.Message = "Method not found: " + d.Message[len("denied: "):]
		d.Value = method
		return MethodUnknown, d
	case known:
		return class, Decision{Allow: true, Reason: ReasonAllowed}
	case custom != nil && custom(method):
		return MethodCustom, Decision{Allow: true, Reason: ReasonAllowed}
	}
	d := Deny(ReasonMethodNotAllowed, "method %s is not allowed through this gateway", shorten(method))
	d.Value = shorten(method)
	return MethodUnknown, d
}
