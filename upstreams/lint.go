package upstreams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Severity says whether a Finding should fail a CI gate.
type Severity string

const (
	SeverityError   Severity = "error"   // the registry and the upstream disagree: fix one
	SeverityWarning Severity = "warning" // worth knowing, not wrong
)

// ToolSchema is one tool as the upstream lists it in tools/list.
type ToolSchema struct {
	Name        string          `json:"name"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

// Finding is one disagreement between an upstream's registry entry and the
// tools the upstream lists. Pos and Field say where in the registry file.
type Finding struct {
	Upstream string
	Tool     string
	Field    string
	Severity Severity
	Msg      string
	Pos      Position
}

// String formats the finding as "file:line:col: field: msg", with
// "warning: " before the message of a warning.
func (f Finding) String() string {
	msg := f.Msg
	if f.Severity != SeverityError {
		msg = string(f.Severity) + ": " + msg
	}
	return f.Pos.String() + ": " + f.Field + ": " + msg
}

// Lint checks an upstream's registry entry against the tools the upstream
// lists: every registered tool must be listed, and every bound argument must
// name a property of the tool's inputSchema with a fitting type (an amount
// must be a number or integer). Tools the upstream lists but the registry
// does not are reported as warnings: they stay invisible through the gateway.
// Findings come in tool-name order.
func Lint(up *Upstream, tools []ToolSchema) []Finding {
	listed := make(map[string]ToolSchema, len(tools))
	var out []Finding
	for _, t := range tools {
		if _, dup := listed[t.Name]; dup {
			out = append(out, Finding{Upstream: up.Slug, Tool: t.Name, Field: pathKey(up.path+".tools", t.Name),
				Severity: SeverityWarning, Msg: fmt.Sprintf("the upstream lists tool %q twice; the first is checked", t.Name), Pos: up.Pos})
			continue
		}
		listed[t.Name] = t
	}
	for _, name := range up.ToolNames() {
		w := up.toolW[name]
		t, ok := listed[name]
		if !ok {
			out = append(out, Finding{Upstream: up.Slug, Tool: name, Field: w.path, Severity: SeverityError,
				Msg: "the upstream does not list this tool", Pos: w.pos})
			continue
		}
		out = append(out, lintTool(up.Slug, name, w, t.InputSchema)...)
	}
	var extra []string
	for name := range listed {
		if _, ok := up.Tools[name]; !ok {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		out = append(out, Finding{Upstream: up.Slug, Tool: name, Field: pathKey(up.path+".tools", name), Severity: SeverityWarning,
			Msg: "the upstream lists this tool but the registry does not: it is invisible and uncallable through the gateway", Pos: up.Pos})
	}
	return out
}

// lintTool checks each bound argument of one tool against its inputSchema.
func lintTool(slug, name string, w toolWhere, raw json.RawMessage) []Finding {
	if len(w.args) == 0 {
		return nil
	}
	finding := func(path string, pos Position, sev Severity, format string, args ...any) Finding {
		return Finding{Upstream: slug, Tool: name, Field: path, Severity: sev, Msg: fmt.Sprintf(format, args...), Pos: pos}
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return []Finding{finding(w.path, w.pos, SeverityError, "the upstream lists no inputSchema for this tool, so its bound arguments cannot exist")}
	}
	var root any
	if err := json.Unmarshal(raw, &root); err != nil {
		return []Finding{finding(w.path, w.pos, SeverityError, "the tool's inputSchema is not valid JSON: %v", err)}
	}
	sw := &schemaWalker{root: root}
	var out []Finding
	for _, a := range w.args {
		at, missing, open := sw.lookup(a.ptr.Tokens())
		switch {
		case missing != "":
			out = append(out, finding(a.path, a.pos, SeverityError, "%s names no property of the tool's inputSchema: %s", a.ptr, missing))
			continue
		case open:
			out = append(out, finding(a.path, a.pos, SeverityWarning, "%s is not a declared property; only additionalProperties or patternProperties admit it", a.ptr))
		}
		if f, bad := checkType(a, sw.types(at)); bad {
			out = append(out, finding(a.path, a.pos, f.Severity, "%s", f.Msg))
		}
	}
	return out
}

// checkType reports a bound argument whose schema type does not fit its role.
func checkType(a boundArg, types []string) (Finding, bool) {
	want, sev, rule := []string{"string"}, SeverityWarning, fmt.Sprintf("a %s must be a string", a.role)
	if a.role == roleAmount {
		want, sev, rule = []string{"number", "integer"}, SeverityError, "an amount must be a number or integer"
	}
	if len(types) == 0 {
		return Finding{Severity: SeverityWarning, Msg: fmt.Sprintf("%s declares no type; %s", a.ptr, rule)}, true
	}
	for _, t := range types {
		if t != "null" && !slices.Contains(want, t) {
			return Finding{Severity: sev, Msg: fmt.Sprintf("%s has type %s in the inputSchema; %s", a.ptr, strings.Join(types, "|"), rule)}, true
		}
	}
	return Finding{}, false
}
