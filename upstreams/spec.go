package upstreams

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// The spec types mirror the file's schema field by field, each value with
// where it was written. Decoding fills them and reports type errors;
// validation turns them into Upstreams and reports everything else.

type fileSpec struct {
	node      *yaml.Node
	version   field[int]
	upstreams []upstreamSpec
}

type upstreamSpec struct {
	node            *yaml.Node
	path            string
	slug, transport field[string]
	url             field[string]
	command         field[[]field[string]]
	env             field[[]pair]
	inbound         field[string]
	downstream      field[string]
	timeouts        timeoutsSpec
	headers         field[[]pair]
	tools           field[[]toolSpec]
	dpop            field[string]
	resources       field[[]resourceGrantSpec]
	prompts         field[[]promptSpec]
	methods         field[[]field[string]]
	auth            authSpec
	downstreamDPoP  field[bool]         // dpop.go
	h2c             field[bool]         // h2c.go
	members         field[[]memberSpec] // members.go
}

type timeoutsSpec struct {
	connect, call, request, idle field[time.Duration]
}

type toolSpec struct {
	name      field[string] // the key; node is the key node
	node      *yaml.Node    // the value
	path      string
	scope     field[string]
	amount    field[amountSpec]
	category  field[string]
	resource  field[resourceSpec]
	mutating  field[bool]
	honeytool field[bool]
	approval  field[approvalSpec] // approval.go
	tags      field[[]field[string]]
	pin       field[string] // pin.go
}

type amountSpec struct {
	pointer, currency, currencyPointer field[string]
}

type resourceSpec struct {
	pointer, kind field[string]
}

func (d *decoder) document(root *yaml.Node) fileSpec {
	f := fileSpec{node: root}
	d.fields(root, "", "a mapping with version and upstreams", map[string]func(entry){
		"version": func(e entry) { f.version = d.integer(e) },
		"upstreams": func(e entry) {
			if e.val.Kind != yaml.SequenceNode {
				d.errorf(e.val, e.path, "must be a list of upstreams, got %s", kindName(e.val))
				return
			}
			for i, item := range e.val.Content {
				f.upstreams = append(f.upstreams, d.upstream(d.resolve(item), fmt.Sprintf("%s[%d]", e.path, i)))
			}
		},
	})
	return f
}

func (d *decoder) upstream(n *yaml.Node, path string) upstreamSpec {
	u := upstreamSpec{node: n, path: path}
	d.fields(n, path, "a mapping", map[string]func(entry){
		"slug":                func(e entry) { u.slug = d.str(e) },
		"transport":           func(e entry) { u.transport = d.str(e) },
		"url":                 func(e entry) { u.url = d.str(e) },
		"command":             func(e entry) { u.command = d.strList(e) },
		"env":                 func(e entry) { u.env = d.strMap(e) },
		"inbound_audience":    func(e entry) { u.inbound = d.str(e) },
		"downstream_audience": func(e entry) { u.downstream = d.str(e) },
		"timeouts":            func(e entry) { u.timeouts = d.timeouts(e) },
		"headers":             func(e entry) { u.headers = d.strMap(e) },
		"tools":               func(e entry) { u.tools = d.tools(e) },
		"dpop":                func(e entry) { u.dpop = d.str(e) },
		"resources":           func(e entry) { u.resources = d.resourceGrants(e) },
		"prompts":             func(e entry) { u.prompts = d.prompts(e) },
		"methods":             func(e entry) { u.methods = d.strList(e) },
		"auth":                func(e entry) { u.auth = d.auth(e) },
		"downstream_dpop":     func(e entry) { u.downstreamDPoP = d.boolean(e) },
		"h2c":                 func(e entry) { u.h2c = d.boolean(e) },
		"members":             func(e entry) { u.members = d.members(e) },
	})
	return u
}

func (d *decoder) timeouts(e entry) timeoutsSpec {
	var t timeoutsSpec
	d.fields(e.val, e.path, "a mapping of connect, call, request and idle", map[string]func(entry){
		"connect": func(e entry) { t.connect = d.duration(e) },
		"call":    func(e entry) { t.call = d.duration(e) },
		"request": func(e entry) { t.request = d.duration(e) },
		"idle":    func(e entry) { t.idle = d.duration(e) },
	})
	return t
}

func (d *decoder) tools(e entry) field[[]toolSpec] {
	f := field[[]toolSpec]{node: e.val, path: e.path}
	es, ok := d.entries(e.val, e.path, "a mapping of tool names to their settings")
	f.bad = !ok
	for _, te := range es {
		f.v = append(f.v, d.tool(te))
	}
	return f
}

func (d *decoder) tool(e entry) toolSpec {
	t := toolSpec{name: field[string]{v: e.key, node: e.keyN, path: e.path}, node: e.val, path: e.path}
	d.fields(e.val, e.path, "a mapping with at least scope", map[string]func(entry){
		"scope":     func(e entry) { t.scope = d.str(e) },
		"amount":    func(e entry) { t.amount = d.amount(e) },
		"category":  func(e entry) { t.category = d.str(e) },
		"resource":  func(e entry) { t.resource = d.resource(e) },
		"mutating":  func(e entry) { t.mutating = d.boolean(e) },
		"honeytool": func(e entry) { t.honeytool = d.boolean(e) },
		"approval":  func(e entry) { t.approval = d.approval(e) },
		"tags":      func(e entry) { t.tags = d.strList(e) },
		"pin":       func(e entry) { t.pin = d.str(e) },
	})
	return t
}

// amount is a pointer ("/amount") or a mapping {pointer, currency | currency_pointer}.
func (d *decoder) amount(e entry) field[amountSpec] {
	f := field[amountSpec]{node: e.val, path: e.path}
	if e.val.Kind == yaml.ScalarNode {
		f.v.pointer = d.str(e)
		return f
	}
	f.bad = !d.fields(e.val, e.path, "a pointer or a mapping with pointer", map[string]func(entry){
		"pointer":          func(e entry) { f.v.pointer = d.str(e) },
		"currency":         func(e entry) { f.v.currency = d.str(e) },
		"currency_pointer": func(e entry) { f.v.currencyPointer = d.str(e) },
	})
	return f
}

// resource is a pointer ("/path") or a mapping {pointer, kind}.
func (d *decoder) resource(e entry) field[resourceSpec] {
	f := field[resourceSpec]{node: e.val, path: e.path}
	if e.val.Kind == yaml.ScalarNode {
		f.v.pointer = d.str(e)
		return f
	}
	f.bad = !d.fields(e.val, e.path, "a pointer or a mapping with pointer", map[string]func(entry){
		"pointer": func(e entry) { f.v.pointer = d.str(e) },
		"kind":    func(e entry) { f.v.kind = d.str(e) },
	})
	return f
}
