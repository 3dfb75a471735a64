package virtual

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// MCP tasks over several members: a task is the member's that created it.
// The virtual server keeps no table of tasks: it rewrites every task id a
// member sends the client to the member-scoped form
//
//	legant-vt:<member name>:<member's task id>
//
// (in a task-augmented tools/call's result.task.taskId, in the results of
// tasks/get and tasks/cancel, in tasks/list items, in
// notifications/tasks/status and in _meta["io.modelcontextprotocol/related-task"]),
// as member request ids are rewritten (wire.go), so that two members' equal
// ids never collide and an id names the member to route it to, in a session
// or in stateless requests alike. tasks/get, tasks/result and tasks/cancel
// go to the member the id names, with the member's own id; tasks/list is
// merged from every member that declares tasks and paginated with the
// virtual server's own cursors (cursor.go). Who may use a task is the
// gateway's to decide (gateway/decide_tasks.go): it records each scoped id
// it relays with its owner and refuses the others' before they reach this
// package. A virtual server of one member rewrites nothing: it is its
// member, ids included.

// taskIDPrefix starts a member-scoped task id.
const taskIDPrefix = "legant-vt:"

// tasksExtension is the 2026-07-28 tasks extension's id in
// capabilities.extensions.
const tasksExtension = "io.modelcontextprotocol/tasks"

// relatedTaskMeta is the _meta key naming the task a message belongs to.
const relatedTaskMeta = "io.modelcontextprotocol/related-task"

// scopesTasks reports whether task ids are rewritten: with several members.
func (h *Handler) scopesTasks() bool { return len(h.up.Members) > 1 }

// scopeTaskID returns member l's task id as the client sees it.
func (l *link) scopeTaskID(id string) string {
	return taskIDPrefix + l.m.Name + ":" + id
}

// taskMember returns the member index and the member's own id of a scoped
// task id; ok=false when id is not one (or names no member).
func (h *Handler) taskMember(id string) (idx int, orig string, ok bool) {
	rest, ok := strings.CutPrefix(id, taskIDPrefix)
	if !ok {
		return 0, "", false
	}
	name, orig, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, "", false
	}
	idx = h.indexOf(name)
	return idx, orig, idx >= 0
}

// servesTasks reports whether member l declared tasks (capabilities.tasks,
// or the tasks extension).
func (l *link) servesTasks() bool {
	if l.has("tasks") {
		return true
	}
	ext, err := decodeObject(l.caps["extensions"])
	if err != nil {
		return false
	}
	_, ok := ext[tasksExtension]
	return ok
}

// task routes tasks/get, tasks/result and tasks/cancel to the member the
// scoped task id names, with the member's own id. An id that is not a
// scoped one is answered as a member answers an unknown task: -32602.
func (s *session) task(w http.ResponseWriter, r *http.Request, msg *message) {
	params, err := decodeObject(msg.Params)
	if err != nil {
		writeError(w, http.StatusOK, msg.ID, &rpcError{Code: codeInvalidParams, Message: "invalid params"})
		return
	}
	idx, orig, ok := s.h.taskMember(params.str("taskId"))
	if !ok {
		writeError(w, http.StatusOK, msg.ID, &rpcError{Code: codeInvalidParams, Message: "task not found"})
		return
	}
	params.setStr("taskId", orig)
	s.forwardTo(w, r, idx, msg, params, "")
}

// listTasks answers tasks/list: the lists of the members that declare
// tasks, merged, their ids scoped.
func (s *session) listTasks(w http.ResponseWriter, ctx context.Context, msg *message) {
	s.list(w, ctx, msg, "tasks", "tasks", false)
}

var taskIDKey = []byte(`"taskId"`)

// scopeTasks returns data, a message of member l to the client, with the
// task ids it carries scoped: a result's task.taskId and taskId, a
// notifications/tasks/status's taskId, and any related-task _meta. A
// request's own params.taskId (a member asking the client about a task of
// the client's) is the client's and is left alone. Messages without a
// taskId member are returned as they are, undecoded.
func (l *link) scopeTasks(data []byte) []byte {
	if !l.s.h.scopesTasks() || !bytes.Contains(data, taskIDKey) {
		return data
	}
	m, err := decodeObject(data)
	if err != nil {
		return data
	}
	var h head
	if decodeHead(data, &h) != nil {
		return data
	}
	field := "params"
	if h.Method == "" {
		field = "result"
	}
	body, err := decodeObject(m[field])
	if err != nil || len(body) == 0 {
		return data
	}
	changed := l.scopeRelated(body)
	switch {
	case h.Method == "notifications/tasks/status":
		changed = l.scopeIn(body, "taskId") || changed
	case h.Method == "":
		changed = l.scopeIn(body, "taskId") || changed
		if task, err := decodeObject(body["task"]); err == nil && l.scopeIn(task, "taskId") {
			body["task"] = task.encode()
			changed = true
		}
	}
	if !changed {
		return data
	}
	m[field] = body.encode()
	return m.encode()
}

// scopeIn scopes the string member key of o, reporting whether it did.
func (l *link) scopeIn(o object, key string) bool {
	if id := o.str(key); id != "" {
		o.setStr(key, l.scopeTaskID(id))
		return true
	}
	return false
}

// scopeRelated scopes the task id of o's related-task _meta.
func (l *link) scopeRelated(o object) bool {
	meta, err := decodeObject(o["_meta"])
	if err != nil {
		return false
	}
	rel, err := decodeObject(meta[relatedTaskMeta])
	if err != nil || !l.scopeIn(rel, "taskId") {
		return false
	}
	meta[relatedTaskMeta] = rel.encode()
	o["_meta"] = meta.encode()
	return true
}

// scopeTaskItem scopes the taskId of a tasks/list item, returning the item
// and its scoped id.
func (l *link) scopeTaskItem(item object) (json.RawMessage, string) {
	l.scopeIn(item, "taskId")
	l.scopeRelated(item)
	return item.encode(), item.str("taskId")
}
