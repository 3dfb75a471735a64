package gateway

// Visibility: the rules deciding what of an upstream's answers a token may
// see, applied by relay.go to every message coming back (POST responses and
// GET streams alike). Lists of tools, resources, resource templates, prompts
// and tasks are filtered to what the token may use and marked
// cacheScope "private" (the filtered list is this token's, not the server's);
// notifications about a resource the token may not read or a task it does
// not own are dropped; the ids of tasks a tools/call creates are remembered
// with their owner (decide_tasks.go). It is a leaf: it calls nothing of the
// request path.

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// toolVisible reports whether the token may see (and so call) a tool: the
// registry binds it, the token holds its scope and the token's tool list
// allows it (policy.Visible, the rule the SDK guards apply too). Arguments
// are checked only at call time.
func toolVisible(up *upstreams.Upstream, c *authority.Claims, name string) bool {
	b, _ := up.Tool(name)
	return policy.Visible(c, b)
}

// liveUpstream is the registry's current entry for the upstream of ex: a
// stream opened before a reload is seen through the reloaded grants. An
// upstream the reload removed grants nothing.
func (g *Gateway) liveUpstream(ex *exchange) *upstreams.Upstream {
	if up, ok := g.upstream(ex.up.Slug); ok {
		return up
	}
	return &upstreams.Upstream{Slug: ex.up.Slug}
}

// listView is one kind of list a result may carry: the result member, the
// member of each item that identifies it, and the rule deciding its items.
type listView struct {
	member, key string
	visible     func(g *Gateway, up *upstreams.Upstream, ex *exchange, id string) bool
}

// listViews are every filtered list. A result member of one of these names
// is filtered whatever the request was: a list the gateway cannot parse is
// an error, never the unfiltered catalog.
var listViews = []listView{
	{"tools", "name", func(_ *Gateway, up *upstreams.Upstream, ex *exchange, n string) bool {
		return toolVisible(up, ex.claims, n)
	}},
	{"resources", "uri", func(_ *Gateway, up *upstreams.Upstream, ex *exchange, u string) bool {
		return policy.ResourceVisible(ex.claims, up.Resources, u)
	}},
	{"resourceTemplates", "uriTemplate", func(_ *Gateway, up *upstreams.Upstream, ex *exchange, t string) bool {
		return policy.TemplateVisible(ex.claims, up.Resources, t)
	}},
	{"prompts", "name", func(_ *Gateway, up *upstreams.Upstream, ex *exchange, n string) bool {
		b, _ := up.Prompt(n)
		return policy.PromptVisible(ex.claims, b)
	}},
	{"tasks", "taskId", func(g *Gateway, _ *upstreams.Upstream, ex *exchange, id string) bool {
		return g.mcpTasks.owns(ex.up.Slug, id, taskOwner(ex))
	}},
}

// viewResult applies the token's view to a result response m; pc is the
// request it answers (nil when unknown, e.g. replayed on a GET stream).
func (g *Gateway) viewResult(ex *exchange, pc *pendingCall, m *message) ([]byte, error) {
	if pc != nil && pc.method == "tools/call" {
		g.rememberTask(ex, m.resultMembers)
	}
	if pc != nil {
		g.rememberRequestState(ex, m.resultMembers)
	}
	if pc != nil && (pc.method == "initialize" || pc.method == "server/discover") {
		g.rememberCapabilities(ex, m.result)
	}
	result, filtered := m.result, false
	up := g.liveUpstream(ex)
	for _, v := range listViews {
		if _, ok := m.resultMembers.get(v.member); !ok { // rewriting keeps the members
			continue
		}
		var err error
		result, err = rewriteMember(result, v.member, func(items jsontext.Value) (jsontext.Value, error) {
			return g.filterList(items, v, up, ex)
		})
		if err != nil {
			return nil, err
		}
		filtered = true
	}
	if !filtered {
		return m.raw, nil
	}
	result, err := setMember(result, "cacheScope", jsontext.Value(`"private"`))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`{"jsonrpc":"2.0","id":`)
	b.Write(m.id)
	b.WriteString(`,"result":`)
	b.Write(result)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// rememberTask records the task a task-augmented tools/call created
// (result.task.taskId) as the caller's.
func (g *Gateway) rememberTask(ex *exchange, result members) {
	task, ok := result.get("task")
	if !ok {
		return
	}
	if id, ok := stringMember(task, "taskId"); ok && id != "" {
		g.mcpTasks.add(ex.up.Slug, id, taskOwner(ex))
	}
}

// viewNotification returns a server notification as relayed, or nil when
// the token may not see it (under the registry as it is now): an update of
// a resource it may not read, the
// status of a task it does not own.
func (g *Gateway) viewNotification(ex *exchange, m *message) []byte {
	switch m.method {
	case "notifications/resources/updated":
		uri, _ := m.paramsMembers.stringOf("uri")
		if !policy.ResourceVisible(ex.claims, g.liveUpstream(ex).Resources, uri) {
			return nil
		}
	case "notifications/tasks/status":
		id, _ := m.paramsMembers.stringOf("taskId")
		if !g.mcpTasks.owns(ex.up.Slug, id, taskOwner(ex)) {
			return nil
		}
	}
	return m.raw
}

// droppedEvent is what is relayed of an SSE event whose message was dropped:
// its id (and retry), so that a client resuming with Last-Event-ID resumes
// after it, but no data, so no client dispatches it.
func droppedEvent(lines [][]byte) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		if _, ok := field(l, "id"); ok {
			b.Write(l)
			b.WriteByte('\n')
		} else if _, ok := field(l, "retry"); ok {
			b.Write(l)
			b.WriteByte('\n')
		}
	}
	if b.Len() == 0 {
		return nil
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// filterList keeps the items of a list the token may see, each exactly as
// the upstream wrote it.
func (g *Gateway) filterList(items jsontext.Value, v listView, up *upstreams.Upstream, ex *exchange) (jsontext.Value, error) {
	if items.Kind() != '[' {
		return nil, fmt.Errorf("%s is not an array", v.member)
	}
	dec := getDecoder(items)
	defer putDecoder(dec)
	dec.ReadToken()
	var b bytes.Buffer
	b.WriteByte('[')
	var buf [8]member // an item's members, read in the same walk as the list
	for n := 0; dec.PeekKind() != ']'; n++ {
		if dec.PeekKind() != '{' {
			return nil, fmt.Errorf("%s[%d] has no string %s", v.member, n, v.key)
		}
		item, ms, err := readObject(dec, items, buf[:0])
		if err != nil {
			return nil, err
		}
		id, ok := ms.stringOf(v.key)
		if !ok {
			return nil, fmt.Errorf("%s[%d] has no string %s", v.member, n, v.key)
		}
		if v.visible(g, up, ex, id) && g.pinnedItemVisible(ex, up, v.member, id, item) {
			if b.Len() > 1 {
				b.WriteByte(',')
			}
			b.Write(item)
		}
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// setMember returns obj with member name set to value: replaced in place
// when present, appended when not.
func setMember(obj jsontext.Value, name string, value jsontext.Value) (jsontext.Value, error) {
	if _, ok := memberOf(obj, name); ok {
		return rewriteMember(obj, name, func(jsontext.Value) (jsontext.Value, error) { return value, nil })
	}
	obj = bytes.TrimRight(obj, " \t\r\n")
	if len(obj) < 2 || obj[len(obj)-1] != '}' {
		return nil, errors.New("result is not an object")
	}
	var b bytes.Buffer
	b.Write(obj[:len(obj)-1])
	if len(bytes.TrimSpace(obj[1:len(obj)-1])) > 0 {
		b.WriteByte(',')
	}
	b.WriteString(`"` + name + `":`)
	b.Write(value)
	b.WriteByte('}')
	return b.Bytes(), nil
}
