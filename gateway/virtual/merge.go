package virtual

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// list answers a list method with the members' lists merged: each member's
// whole list (all its pages) within its connect timeout, names prefixed
// (tools, prompts), resource URIs recorded for routing, then paginated with
// the virtual server's own cursors. field is the result's list member;
// feature the capability a member must declare to be asked.
func (s *session) list(w http.ResponseWriter, ctx context.Context, msg *message, feature, field string, prefixed bool) {
	params, err := decodeObject(msg.Params)
	if err != nil {
		writeError(w, http.StatusOK, msg.ID, &rpcError{Code: codeInvalidParams, Message: "invalid params"})
		return
	}
	cursor := params.str("cursor")
	delete(params, "cursor")
	// A member that refuses the request outright (4xx: bad _meta or
	// headers) refuses it for all: it is the request, not the member.
	var mu sync.Mutex
	var refused *rpcError
	type listed struct {
		idx   int
		items []json.RawMessage
		names []string
		rest  object // the result's other members (the first page's)
	}
	lists := each(ctx, s, func(ctx context.Context, l *link) (listed, error) {
		out := listed{idx: l.idx}
		if feature == "tasks" && !l.servesTasks() || feature != "tasks" && !l.has(feature) {
			return out, nil
		}
		next := ""
		for range 1000 {
			p := object{}
			for k, v := range params {
				p[k] = v
			}
			if next != "" {
				p.setStr("cursor", next)
			}
			res, err := l.call(ctx, msg.Method, s.paramsFor(l, p.encode()), s.headersFor(l, ""))
			var re *rpcError
			if errors.As(err, &re) && re.status/100 == 4 {
				mu.Lock()
				refused = re
				mu.Unlock()
			}
			if err != nil {
				return out, err
			}
			o, err := decodeObject(res)
			if err != nil {
				return out, err
			}
			var items []json.RawMessage
			if err := json.Unmarshal(o[field], &items); err != nil {
				return out, err
			}
			for _, it := range items {
				item, err := decodeObject(it)
				if err != nil {
					return out, err
				}
				var name string
				switch {
				case prefixed:
					name = l.m.Prefix + item.str("name")
					if owner, _, _ := s.h.up.MemberOf(name); owner == nil || owner.Name != l.m.Name {
						// The empty prefix's object named with another's prefix.
						continue
					}
					if l.m.Prefix != "" {
						item.setStr("name", name)
						it = item.encode()
					}
				case field == "tasks":
					it, name = l.scopeTaskItem(item)
				case field == "resources":
					name = item.str("uri")
				default:
					name = item.str("uriTemplate")
				}
				out.items = append(out.items, it)
				out.names = append(out.names, name)
			}
			if out.rest == nil {
				out.rest = o
			}
			next = o.str("nextCursor")
			if next == "" {
				return out, nil
			}
		}
		return out, nil
	})
	if refused != nil {
		writeError(w, refused.status, msg.ID, refused)
		return
	}
	var items []json.RawMessage
	var names []string
	var rest object
	s.mu.Lock()
	for _, l := range lists {
		if rest == nil && l.rest != nil {
			rest = l.rest
		}
		for i, it := range l.items {
			if field == "resources" {
				if owner, dup := s.uris[l.names[i]]; dup && owner != l.idx {
					continue // the first member to list a URI keeps it
				}
				s.uris[l.names[i]] = l.idx
			}
			items = append(items, it)
			names = append(names, l.names[i])
		}
	}
	s.mu.Unlock()
	page, next, err := s.page(feature+"/"+field, items, names, cursor)
	if err != nil {
		writeError(w, http.StatusOK, msg.ID, err)
		return
	}
	res := object{}
	for k, v := range rest {
		res[k] = v
	}
	if page == nil {
		page = []json.RawMessage{}
	}
	res[field], _ = json.Marshal(page)
	delete(res, "nextCursor")
	if next != "" {
		res.setStr("nextCursor", next)
	}
	writeResult(w, msg.ID, res.encode())
}

// mergeInitialize is the virtual server's initialize result: the members'
// capabilities merged (mergeCapabilities), the lowest revision a member
// negotiated (the client's when none answered), and the server info and
// instructions of a lone member.
func (h *Handler) mergeInitialize(requested string, links []*link) json.RawMessage {
	version := requested
	for _, l := range links {
		if l.version < version {
			version = l.version
		}
	}
	res := object{}
	if len(h.up.Members) == 1 && len(links) == 1 {
		for k, v := range links[0].result {
			res[k] = v
		}
	} else {
		res["serverInfo"] = json.RawMessage(`{"name":"legant-virtual","version":"1"}`)
		if in := h.instructions(links); in != "" {
			res.setStr("instructions", in)
		}
	}
	res.setStr("protocolVersion", version)
	res["capabilities"] = h.mergeCapabilities(links).encode()
	return res.encode()
}

// instructions joins the members' instructions, each under its name.
func (h *Handler) instructions(links []*link) string {
	var b strings.Builder
	for _, l := range links {
		if in := l.result.str("instructions"); in != "" {
			if b.Len() > 0 {
				b.WriteString("\n\n")
			}
			b.WriteString(l.m.Name + ": " + in)
		}
	}
	return b.String()
}

// mergeCapabilities merges the capabilities the members declared: the
// union of the features whose objects are listed and routed (tools,
// prompts, resources, logging, completions), each with list_changed and
// subscribe when any member has them (they are forwarded from any member);
// experimental capabilities and any other feature only when every member
// that answered declares it (the intersection: one member's feature cannot
// be promised for the others'), but for tasks (capabilities.tasks and the
// tasks extension), declared when any member does with several members:
// tasks are routed to their member (tasks.go). A member that did not answer counts with
// what its registry entry shows (registryCapabilities), so that its
// objects can appear once it is back.
func (h *Handler) mergeCapabilities(links []*link) object {
	all := make([]object, 0, len(h.up.Members))
	answered := make([]bool, len(h.up.Members))
	for _, l := range links {
		all = append(all, l.caps)
		answered[l.idx] = true
	}
	if slices.Contains(answered, false) {
		all = append(all, h.registryCapabilities())
	}
	out := object{}
	flags := map[string][]string{"tools": {"listChanged"}, "prompts": {"listChanged"}, "resources": {"listChanged", "subscribe"}}
	features := []string{"tools", "prompts", "resources", "logging", "completions"}
	if h.scopesTasks() {
		features = append(features, "tasks") // routed by task id (tasks.go)
	}
	for _, feature := range features {
		merged := object{}
		present := false
		for _, c := range all {
			v, ok := c[feature]
			if !ok || string(v) == "null" {
				continue
			}
			present = true
			o, err := decodeObject(v)
			if err != nil {
				continue
			}
			for k, x := range o {
				if slices.Contains(flags[feature], k) {
					if string(x) == "true" {
						merged[k] = x
					}
					continue
				}
				if _, seen := merged[k]; !seen {
					merged[k] = x
				}
			}
		}
		if present {
			out[feature] = merged.encode()
		}
	}
	if len(links) == 0 {
		return out
	}
	for k, v := range links[0].caps {
		if _, done := out[k]; done {
			continue
		}
		if k == "experimental" {
			if e := intersectKeys(links, k); len(e) > 0 {
				out[k] = e.encode()
			}
			continue
		}
		everyone := true
		for _, l := range links[1:] {
			if _, ok := l.caps[k]; !ok {
				everyone = false
			}
		}
		if everyone && len(links) == len(h.up.Members) {
			out[k] = v
		}
	}
	if h.scopesTasks() {
		addTasksExtension(out, links)
	}
	return out
}

// addTasksExtension adds the tasks extension to out's extensions when any
// member declares it: its tasks are routed to it (tasks.go).
func addTasksExtension(out object, links []*link) {
	for _, l := range links {
		ext, err := decodeObject(l.caps["extensions"])
		if err != nil {
			continue
		}
		v, ok := ext[tasksExtension]
		if !ok {
			continue
		}
		merged, err := decodeObject(out["extensions"])
		if err != nil {
			return
		}
		if _, ok := merged[tasksExtension]; !ok {
			merged[tasksExtension] = v
			out["extensions"] = merged.encode()
		}
		return
	}
}

// intersectKeys is the members of object capability k that every link's
// declares (the first link's values).
func intersectKeys(links []*link, k string) object {
	first, err := decodeObject(links[0].caps[k])
	if err != nil {
		return nil
	}
	for _, l := range links[1:] {
		o, err := decodeObject(l.caps[k])
		if err != nil {
			return nil
		}
		for name := range first {
			if _, ok := o[name]; !ok {
				delete(first, name)
			}
		}
	}
	return first
}

// registryCapabilities are what the registry entry shows: tools always,
// prompts and resources when it registers any.
func (h *Handler) registryCapabilities() object {
	c := object{"tools": json.RawMessage(`{"listChanged":true}`)}
	if len(h.up.Prompts) > 0 {
		c["prompts"] = json.RawMessage(`{"listChanged":true}`)
	}
	if len(h.up.Resources) > 0 {
		c["resources"] = json.RawMessage(`{"listChanged":true,"subscribe":true}`)
	}
	return c
}

// discover answers server/discover (SEP-2575) for a stateless request:
// the members' capabilities merged, and the revisions every member that
// speaks them supports.
func (s *session) discover(w http.ResponseWriter, r *http.Request, msg *message) {
	ctx := r.Context()
	if len(s.h.up.Members) == 1 {
		// A lone member speaking the revision answers itself.
		if l, err := s.link(0); err == nil && l.stateless {
			s.forwardTo(w, r, 0, msg, msg.Params, "")
			return
		}
	}
	// Each member that speaks the revision gets the client's own request:
	// one that refuses it (bad _meta, mismatched headers) refuses it for all.
	var mu sync.Mutex
	var refused *rpcError
	links := each(ctx, s, func(ctx context.Context, l *link) (*link, error) {
		if !l.stateless {
			return l, nil
		}
		res, err := l.call(ctx, msg.Method, msg.Params, s.headersFor(l, ""))
		var re *rpcError
		if errors.As(err, &re) {
			mu.Lock()
			refused = re
			mu.Unlock()
		}
		if err != nil {
			return nil, err
		}
		if o, err := decodeObject(res); err == nil {
			l.result = o
			l.caps, _ = decodeObject(o["capabilities"])
		}
		return l, nil
	})
	if refused != nil {
		status := refused.status
		if status == 0 {
			status = http.StatusOK
		}
		writeError(w, status, msg.ID, refused)
		return
	}
	res := object{}
	var versions []string
	first := true
	for _, l := range links {
		if !l.stateless {
			continue
		}
		var vs []string
		_ = json.Unmarshal(l.result["supportedVersions"], &vs)
		if first {
			for k, v := range l.result {
				res[k] = v
			}
			versions, first = vs, false
			continue
		}
		versions = slices.DeleteFunc(versions, func(v string) bool { return !slices.Contains(vs, v) })
	}
	if first || !slices.Contains(versions, s.version) {
		versions = append(versions, s.version)
	}
	if len(s.h.up.Members) != 1 {
		res["_meta"] = json.RawMessage(`{"io.modelcontextprotocol/serverInfo":{"name":"legant-virtual","version":"1"}}`)
		delete(res, "instructions")
		if in := s.h.instructions(links); in != "" {
			res.setStr("instructions", in)
		}
	}
	res["supportedVersions"], _ = json.Marshal(versions)
	res["capabilities"] = s.h.mergeCapabilities(links).encode()
	writeResult(w, msg.ID, res.encode())
}

// listenAckTimeout bounds the wait for every member's acknowledgement of a
// subscriptions/listen stream.
const listenAckTimeout = 2 * time.Second

// listen serves subscriptions/listen (SEP-2575) over several members: the
// request goes to every member that speaks the revision, the client gets
// one notifications/subscriptions/acknowledged merging theirs (what any
// member honours), then every member's notifications as they come, on one
// stream that ends when the client's request does.
func (s *session) listen(w http.ResponseWriter, r *http.Request, msg *message) {
	ctx := r.Context()
	links := each(ctx, s, func(_ context.Context, l *link) (*link, error) { return l, nil })
	links = slices.DeleteFunc(links, func(l *link) bool { return !l.stateless })
	if len(links) == 0 {
		writeError(w, http.StatusOK, msg.ID, &rpcError{Code: codeMethodNotFound, Message: "no member serves subscriptions/listen"})
		return
	}
	type event struct {
		data []byte
		ack  bool
	}
	events := make(chan event, 16)
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Go(func() {
			resp, err := l.post(ctx, request(msg.ID, msg.Method, msg.Params), s.headersFor(l, ""))
			if err != nil {
				events <- event{ack: true} // counts as this member's (empty) acknowledgement
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !isEventStream(resp) {
				events <- event{ack: true}
				return
			}
			rd := newSSEReader(resp.Body)
			defer rd.release()
			first := true
			for {
				data, err := rd.next()
				if err != nil {
					if first {
						events <- event{ack: true}
					}
					return
				}
				var h head
				if decodeHead(data, &h) != nil || (h.Method == "" && len(h.ID) > 0) {
					continue // the member's end of the subscription: the client's is the virtual server's
				}
				ack := first && h.Method == "notifications/subscriptions/acknowledged"
				first = false
				data = l.scopeTasks(data)
				select {
				case events <- event{data: data, ack: ack}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(events) }()

	startEventStream(w)
	merged := object{}
	var meta json.RawMessage
	var early [][]byte
	timeout := time.NewTimer(listenAckTimeout)
	defer timeout.Stop()
	for acks := 0; acks < len(links); {
		select {
		case ev, ok := <-events:
			if !ok {
				acks = len(links)
				continue
			}
			if !ev.ack {
				early = append(early, ev.data)
				continue
			}
			acks++
			if ev.data != nil {
				mergeAck(merged, ev.data, &meta)
			}
		case <-timeout.C:
			acks = len(links)
		case <-ctx.Done():
			return
		}
	}
	ack := object{"notifications": merged.encode()}
	if meta != nil {
		ack["_meta"] = meta
	}
	if writeEvent(w, request(nil, "notifications/subscriptions/acknowledged", ack.encode())) != nil {
		return
	}
	for _, data := range early {
		if writeEvent(w, data) != nil {
			return
		}
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				writeEvent(w, response(msg.ID, json.RawMessage(`{"_meta":{}}`), nil))
				return
			}
			if writeEvent(w, ev.data) != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// mergeAck adds a member's acknowledgement to merged: a notification kind
// any member honours, the union of resource subscriptions.
func mergeAck(merged object, data []byte, meta *json.RawMessage) {
	var m message
	if decodeMessage(data, &m) != nil {
		return
	}
	p, err := decodeObject(m.Params)
	if err != nil {
		return
	}
	if *meta == nil {
		*meta = p["_meta"]
	}
	n, err := decodeObject(p["notifications"])
	if err != nil {
		return
	}
	for k, v := range n {
		var list []string
		if json.Unmarshal(v, &list) == nil {
			var have []string
			_ = json.Unmarshal(merged[k], &have)
			for _, x := range list {
				if !slices.Contains(have, x) {
					have = append(have, x)
				}
			}
			merged[k], _ = json.Marshal(have)
			continue
		}
		if string(v) == "true" || merged[k] == nil {
			merged[k] = v
		}
	}
}
