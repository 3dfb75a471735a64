// Package upstreams is the registry of the upstream MCP servers the gateway
// serves at /mcp/<slug>, loaded from a YAML file and reloaded on change.
//
// For each upstream it owns the transport and endpoint (URL, or argv for
// stdio), the inbound audience a caller's token must carry, the downstream
// audience of the tokens the gateway mints, timeouts, static headers, and
// per tool a policy.Binding: the scope a caller needs and which arguments
// (amount, currency, category, resource, as RFC 6901 pointers) policy checks
// against the token's constraints. A tool the registry does not list is
// invisible and uncallable; wildcards are refused.
//
// Validation is strict and complete: unknown fields, wrong types and bad
// values are all reported at once as ValidationErrors, each one
// "file:line:col: field.path: message". No credential is written in the
// file: plain headers refuse Authorization and Cookie, URLs refuse userinfo,
// and the auth section (Auth: legant, static, oauth, exchange) names its secrets by
// reference ({env: NAME}, {file: PATH}); Options.ResolveSecrets reads them
// into Secrets, which print as their reference only.
//
// A Registry is an immutable snapshot; a Watcher polls the file and swaps
// snapshots through an atomic pointer, so a reload never disturbs a session
// in flight and an invalid edit keeps the old snapshot in force. Lint compares
// an upstream's entry with the tools the upstream lists in tools/list.
//
// What it does not own: deciding a call (policy), proxying and sessions
// (gateway), and token verification (authority).
//
// Example:
//
//	w, err := upstreams.NewWatcher("legant.yaml", upstreams.Options{PublicURL: "https://gw.example"},
//		func(r *upstreams.Registry, err error) { /* log the reload or the problem */ })
//	if err != nil {
//		return err
//	}
//	go w.Run(ctx)
//	up, ok := w.Current().Lookup("expenses")
//	binding, ok := up.Tool("submit_expense")
package upstreams
