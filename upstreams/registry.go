package upstreams

import (
	"slices"
	"time"

	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/policy"
)

// Transport is how the gateway talks to an upstream MCP server.
type Transport string

const (
	// TransportStreamableHTTP is MCP's Streamable HTTP transport (2025-03-26 and later).
	TransportStreamableHTTP Transport = "streamable-http"
	// TransportSSE is the legacy HTTP+SSE transport of protocol version 2024-11-05.
	TransportSSE Transport = "sse"
	// TransportStdio runs the server as a child process speaking over stdin/stdout.
	TransportStdio Transport = "stdio"
)

// Defaults applied when the registry leaves a setting out.
const (
	// DefaultTransport is used when an upstream has no transport field.
	DefaultTransport = TransportStreamableHTTP
	// DefaultConnectTimeout bounds connecting to (or starting) an upstream.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultCallTimeout is 0: no per-call limit, so that a long streaming
	// call is never cut by a global timeout.
	DefaultCallTimeout time.Duration = 0
	// DefaultRequestTimeout bounds a request other than tools/call (and
	// tasks/result): initialize, tools/list, ping...
	DefaultRequestTimeout = 30 * time.Second
	// DefaultIdleTimeout ends an upstream session nobody used for this long.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultPollInterval is how often a Watcher checks the registry file.
	DefaultPollInterval = time.Second
	// MaxFileSize is the largest registry file Load and Watcher read.
	MaxFileSize = 4 << 20
	// SupportedVersion is the only registry format version this package reads.
	SupportedVersion = 1
)

// Options are the settings a registry is resolved with at load time.
// The zero value is usable for validation only (see PublicURL).
type Options struct {
	// PublicURL is the gateway's external base URL, e.g. "https://gw.example".
	// An upstream without inbound_audience gets PublicURL + "/mcp/" + slug.
	// Empty leaves such audiences empty: fine for `legant lint`, but a
	// gateway must set it and must refuse to serve an upstream whose
	// InboundAudience is "".
	PublicURL string
	// ResolveSecrets reads the values of the secrets the registry names
	// ({env: NAME}, {file: PATH}); a reference that cannot be read is a
	// validation error. false (linting, explaining) checks their form only
	// and leaves every Secret's value empty: a gateway must set it.
	ResolveSecrets bool
	// PollInterval is how often a Watcher checks the file; 0 means
	// DefaultPollInterval. Parse and Load ignore it.
	PollInterval time.Duration
}

// Timeouts bound the gateway's work with one upstream.
type Timeouts struct {
	Connect time.Duration // > 0; DefaultConnectTimeout when not set
	Call    time.Duration // 0 means no per-call limit (the default)
	Request time.Duration // > 0; DefaultRequestTimeout when not set
	Idle    time.Duration // > 0; DefaultIdleTimeout when not set
}

// Upstream is one upstream MCP server, served by the gateway at /mcp/<Slug>.
// It belongs to an immutable Registry snapshot: read it, never modify it.
type Upstream struct {
	Slug      string
	Transport Transport
	// URL is the server's endpoint (streamable-http, sse); "" for stdio.
	URL string
	// Command is the argv to run (stdio only); Env is added to its environment.
	Command []string
	Env     map[string]string
	// InboundAudience is the aud a caller's token must carry to reach this
	// upstream, in canonical form (authority.CanonicalResource); "" only
	// when parsed without Options.PublicURL (see there).
	InboundAudience string
	// DownstreamAudience is the aud of the tokens the gateway mints for the
	// upstream, canonical: the url's origin and path by default,
	// "stdio:<slug>" for stdio.
	DownstreamAudience string
	Timeouts           Timeouts
	// Headers are static headers sent to the upstream, keyed by canonical
	// name. Never Authorization: a credential goes in Auth.
	Headers map[string]string
	// Auth is how the gateway authenticates to the upstream; Kind is
	// AuthLegant when the registry has no auth section.
	Auth Auth
	// H2C: the gateway speaks HTTP/2 over cleartext to this upstream, with
	// prior knowledge (RFC 9113 §3.3), so all its sessions' streams share a
	// few connections (docs/PERFORMANCE.md, idle sessions). Only for
	// streamable-http at an http:// URL; false means HTTP/1.1.
	H2C bool
	// Tools are the registered tools by name. A tool not in this map is
	// invisible and uncallable.
	Tools map[string]*policy.Binding
	// DPoP says which inbound tokens the gateway accepts for this upstream
	// (RFC 9449): dpop.ModeAllow ("" too) bearer and sender-constrained
	// tokens, dpop.ModeRequire only sender-constrained ones, dpop.ModeBearer
	// only bearer ones.
	DPoP dpop.Mode
	// DownstreamDPoP binds the gateway's downstream tokens for this upstream
	// to the gateway's DPoP key (cnf.jkt) and sends a proof with each
	// request, under the DPoP scheme (registry: downstream_dpop: true).
	DownstreamDPoP bool
	// Resources are the resource grants (exact URIs, templates, prefixes);
	// nil grants nothing: every resource is invisible and unreadable.
	Resources policy.ResourceGrants
	// Prompts are the registered prompts by name; a prompt not in this map
	// is invisible and unusable.
	Prompts map[string]*policy.PromptBinding
	// Methods are the custom (non-MCP) methods the gateway forwards; any
	// other method it does not know is refused with -32601.
	Methods []string
	// Pins are the pinned definitions (pin.go), keyed by kind + ":" + name
	// (a template's name is its uriTemplate): "sha256:<hex>" each. An
	// unpinned object is not in the map.
	Pins map[string]string
	// Members are the upstreams composed behind this one (transport
	// virtual, members.go); nil for any other transport.
	Members []Member
	// Pos is where the upstream's entry starts in the registry file.
	Pos Position

	path  string               // field path of the entry, e.g. "upstreams[0]"
	toolW map[string]toolWhere // where each tool's settings were written, for Lint
}

// Tool returns the binding of a registered tool.
func (u *Upstream) Tool(name string) (*policy.Binding, bool) {
	b, ok := u.Tools[name]
	return b, ok
}

// Prompt returns the binding of a registered prompt.
func (u *Upstream) Prompt(name string) (*policy.PromptBinding, bool) {
	b, ok := u.Prompts[name]
	return b, ok
}

// AllowsMethod reports whether the registry allows the custom method m.
func (u *Upstream) AllowsMethod(m string) bool { return slices.Contains(u.Methods, m) }

// ToolNames returns the registered tool names, sorted.
func (u *Upstream) ToolNames() []string {
	names := make([]string, 0, len(u.Tools))
	for n := range u.Tools {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Scopes returns the scopes the upstream's tools, resources and prompts require, sorted and
// without duplicates: what its RFC 9728 metadata advertises and what the
// issuer may grant for it.
func (u *Upstream) Scopes() []string {
	var out []string
	for _, b := range u.Tools {
		if b.Scope != "" {
			out = append(out, b.Scope)
		}
	}
	for _, g := range u.Resources {
		if g.Scope != "" {
			out = append(out, g.Scope)
		}
	}
	for _, b := range u.Prompts {
		if b.Scope != "" {
			out = append(out, b.Scope)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Registry is one immutable snapshot of the registry file. It is safe for
// concurrent use; a reload builds a new Registry instead of changing this one.
type Registry struct {
	source    string
	digest    string
	upstreams []*Upstream // sorted by slug
	bySlug    map[string]*Upstream
}

// Lookup returns the upstream served at /mcp/<slug>.
func (r *Registry) Lookup(slug string) (*Upstream, bool) {
	u, ok := r.bySlug[slug]
	return u, ok
}

// Upstreams returns every upstream, sorted by slug. The slice is a copy.
func (r *Registry) Upstreams() []*Upstream { return slices.Clone(r.upstreams) }

// Source is the name the registry was parsed from (the file path for Load).
func (r *Registry) Source() string { return r.source }

// Digest is the hex SHA-256 of the file's bytes: which version of the
// registry a decision was made with.
func (r *Registry) Digest() string { return r.digest }
