package grants

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/openlegant/legant/upstreams"
)

// maxNodeVisits bounds the walk of a document whose aliases expand
// exponentially; no honest grants file comes near it.
const maxNodeVisits = 1 << 20

// decoder walks a yaml.Node tree of one file and collects every problem in
// the registry's error form. One goroutine, one Parse.
type decoder struct {
	file   string
	errs   upstreams.ValidationErrors
	visits int
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &upstreams.ValidationError{File: d.file, Field: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// errorAt reports a problem at a position already recorded.
func (d *decoder) errorAt(p upstreams.Position, path, format string, args ...any) {
	d.errs = append(d.errs, &upstreams.ValidationError{File: d.file, Line: p.Line, Col: p.Col, Field: path, Msg: fmt.Sprintf(format, args...)})
}

// errTooComplex aborts a walk past maxNodeVisits (recovered by Parse).
type errTooComplex struct{}

func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	if d.visits++; d.visits > maxNodeVisits {
		panic(errTooComplex{})
	}
	return n
}

// entry is one key/value of a mapping; val is resolved.
type entry struct {
	key  string
	keyN *yaml.Node
	val  *yaml.Node
	path string
}

// fields decodes a struct-like mapping: each known key goes to its setter;
// unknown keys, duplicates, merge keys and non-string keys are errors.
func (d *decoder) fields(n *yaml.Node, path, what string, known map[string]func(entry)) bool {
	n = d.resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be %s, got %s", what, kindName(n))
		return false
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.resolve(n.Content[i])
		switch {
		case k.ShortTag() == "!!merge":
			d.errorf(k, path, "merge keys (<<) are not supported: write each field out")
			continue
		case k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null":
			d.errorf(k, path, "keys must be strings, got %s", kindName(k))
			continue
		}
		e := entry{key: k.Value, keyN: k, val: d.resolve(n.Content[i+1]), path: joinPath(path, k.Value)}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, e.path, "duplicate key (first at line %d)", first.Line)
			continue
		}
		seen[k.Value] = k
		set, ok := known[k.Value]
		if !ok {
			d.errorf(k, e.path, "unknown field%s", suggest(k.Value, known))
			continue
		}
		set(e)
	}
	return true
}

// str decodes a scalar as its text; ok is false (and reported) otherwise.
func (d *decoder) str(e entry) (string, bool) {
	if e.val.Kind != yaml.ScalarNode || e.val.ShortTag() == "!!null" {
		d.errorf(e.val, e.path, "must be a string, got %s", kindName(e.val))
		return "", false
	}
	return e.val.Value, true
}

// strList decodes a list of strings; each item keeps its node.
func (d *decoder) strList(e entry) ([]item, bool) {
	if e.val.Kind != yaml.SequenceNode {
		d.errorf(e.val, e.path, "must be a list of strings, got %s", kindName(e.val))
		return nil, false
	}
	out := []item{}
	ok := true
	for i, n := range e.val.Content {
		n = d.resolve(n)
		s, good := d.str(entry{val: n, path: fmt.Sprintf("%s[%d]", e.path, i)})
		ok = ok && good
		out = append(out, item{v: s, node: n})
	}
	return out, ok
}

// integer decodes a YAML integer.
func (d *decoder) integer(e entry) (int64, bool) {
	v, err := strconv.ParseInt(e.val.Value, 10, 64)
	if e.val.Kind != yaml.ScalarNode || e.val.ShortTag() != "!!int" || err != nil {
		d.errorf(e.val, e.path, "must be an integer, got %s", kindName(e.val))
		return 0, false
	}
	return v, true
}

// item is one string of a list with where it was written.
type item struct {
	v    string
	node *yaml.Node
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return strings.TrimPrefix(n.ShortTag(), "!!") + " " + n.Value
	}
	return "an unexpected YAML node"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest returns ` (did you mean "x"?)` for a key at most two edits away
// from a known one, else the known keys.
func suggest(key string, known map[string]func(entry)) string {
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if editDistance(key, k) <= 2 {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return fmt.Sprintf(" (known: %s)", strings.Join(names, ", "))
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
