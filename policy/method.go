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

// notificationPrefix is what every MCP notification method starts with.
const notificationPrefix = "notifications/"

// ClassifyMethod decides how the gateway treats a client message with this
// method: hasID says whether it carries an id (a request) or not (a
// notification); custom reports whether the upstream's registry allows a
// method the gateway does not know. The Decision denies:
//
//   - a method without an id that is not a notifications/* method
//     (ReasonNotNotification, -32600): a tools/call without an id is not a
//     notification the gateway may let through undecided;
//   - a request whose method is a notification, or a notification that is
//     a request method (ReasonNotNotification, -32600);
//   - a method it does not know and custom does not allow
//     (ReasonMethodNotAllowed, -32601).
//
// Otherwise it allows, and the class names the decision that comes next.
// ClassifyMethod is pure and safe for concurrent use; custom may be nil.
func ClassifyMethod(method string, hasID bool, custom func(string) bool) (MethodClass, Decision) {
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
	case known:
		return class, Decision{Allow: true, Reason: ReasonAllowed}
	case custom != nil && custom(method):
		return MethodCustom, Decision{Allow: true, Reason: ReasonAllowed}
	}
	d := Deny(ReasonMethodNotAllowed, "method %s is not allowed through this gateway", shorten(method))
	d.Value = shorten(method)
	return MethodUnknown, d
}
