package upstreams

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// field is one value read from the file with where it was written.
// A nil node means the key was absent; bad means it was present but could not
// be decoded (that problem is already reported, so validation skips it).
type field[T any] struct {
	v    T
	node *yaml.Node
	path string
	bad  bool
}

func (f field[T]) set() bool { return f.node != nil }
func (f field[T]) ok() bool  { return f.node != nil && !f.bad }

// maxNodeVisits bounds the work of walking a document whose aliases expand
// exponentially ("billion laughs"); no honest registry comes near it.
const maxNodeVisits = 1 << 20

// errTooComplex aborts a walk that exceeded maxNodeVisits.
var errTooComplex = errors.New("document too complex: aliases expand to too many nodes")

// maxErrors bounds the problems kept for one file; the rest are counted.
const maxErrors = 500

// decoder walks a yaml.Node tree for one file and collects every problem.
// It is used by one goroutine for one Parse.
type decoder struct {
	file    string
	errs    ValidationErrors
	dropped int // problems past maxErrors
	visits  int
	secrets bool // read the values of secret references (Options.ResolveSecrets)
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		d.dropped++
		return
	}
	e := &ValidationError{File: d.file, Field: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// resolve follows aliases to the node they name and counts the visit; it
// panics with errTooComplex past maxNodeVisits (recovered by Parse).
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	if d.visits++; d.visits > maxNodeVisits {
		panic(errTooComplex)
	}
	return n
}

// entry is one key/value pair of a mapping; val is already resolved.
type entry struct {
	key  string
	keyN *yaml.Node
	val  *yaml.Node
	path string
}

// entries returns the pairs of a mapping node, reporting a node that is not
// a mapping, keys that are not plain strings, merge keys and duplicates.
func (d *decoder) entries(n *yaml.Node, path, what string) ([]entry, bool) {
	n = d.resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be %s, got %s", what, kindName(n))
		return nil, false
	}
	var out []entry
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
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
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, pathKey(path, k.Value), "duplicate key (first at line %d)", first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, entry{key: k.Value, keyN: k, val: d.resolve(n.Content[i+1]), path: pathKey(path, k.Value)})
	}
	return out, true
}

// fields decodes a struct-like mapping: the value of each known key goes to
// its setter, and every unknown key is an error.
func (d *decoder) fields(n *yaml.Node, path, what string, known map[string]func(entry)) bool {
	es, ok := d.entries(n, path, what)
	for _, e := range es {
		set, found := known[e.key]
		if !found {
			d.errorf(e.keyN, e.path, "unknown field%s", suggest(e.key, known))
			continue
		}
		set(e)
	}
	return ok
}

// str decodes a scalar as text, exactly as written. Numbers and booleans are
// accepted as their literal text (an env value of 8080 means "8080").
func (d *decoder) str(e entry) field[string] {
	f := field[string]{node: e.val, path: e.path}
	if e.val.Kind != yaml.ScalarNode || e.val.ShortTag() == "!!null" {
		d.errorf(e.val, e.path, "must be a string, got %s", kindName(e.val))
		f.bad = true
		return f
	}
	f.v = e.val.Value
	return f
}

func (d *decoder) integer(e entry) field[int] {
	f := field[int]{node: e.val, path: e.path}
	v, err := strconv.Atoi(e.val.Value)
	if e.val.Kind != yaml.ScalarNode || e.val.ShortTag() != "!!int" || err != nil {
		d.errorf(e.val, e.path, "must be an integer, got %s", kindName(e.val))
		f.bad = true
		return f
	}
	f.v = v
	return f
}

func (d *decoder) boolean(e entry) field[bool] {
	f := field[bool]{node: e.val, path: e.path}
	if e.val.Kind != yaml.ScalarNode || e.val.ShortTag() != "!!bool" {
		d.errorf(e.val, e.path, "must be true or false, got %s", kindName(e.val))
		f.bad = true
		return f
	}
	f.v = strings.EqualFold(e.val.Value, "true")
	return f
}

// duration decodes a Go duration ("5s", "30m", "1h30m", or 0).
func (d *decoder) duration(e entry) field[time.Duration] {
	f := field[time.Duration]{node: e.val, path: e.path}
	s := d.str(e)
	if s.bad {
		f.bad = true
		return f
	}
	v, err := time.ParseDuration(s.v)
	if err != nil {
		d.errorf(e.val, e.path, "must be a duration such as 5s, 30m or 1h30m, got %q", s.v)
		f.bad = true
		return f
	}
	f.v = v
	return f
}

// strList decodes a sequence of strings, each with its own position.
func (d *decoder) strList(e entry) field[[]field[string]] {
	f := field[[]field[string]]{node: e.val, path: e.path}
	if e.val.Kind != yaml.SequenceNode {
		d.errorf(e.val, e.path, "must be a list of strings, got %s", kindName(e.val))
		f.bad = true
		return f
	}
	for i, item := range e.val.Content {
		s := d.str(entry{val: d.resolve(item), path: fmt.Sprintf("%s[%d]", e.path, i)})
		f.bad = f.bad || s.bad
		f.v = append(f.v, s)
	}
	return f
}

// pair is one key and value of a string map (env, headers).
type pair struct {
	key, val field[string]
}

// strMap decodes a mapping of strings to strings, in file order.
func (d *decoder) strMap(e entry) field[[]pair] {
	f := field[[]pair]{node: e.val, path: e.path}
	es, ok := d.entries(e.val, e.path, "a mapping of names to strings")
	f.bad = !ok
	for _, kv := range es {
		p := pair{key: field[string]{v: kv.key, node: kv.keyN, path: kv.path}, val: d.str(kv)}
		f.bad = f.bad || p.val.bad
		f.v = append(f.v, p)
	}
	return f
}

// kindName describes a node for "must be X, got Y" messages.
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

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// pathKey extends a field path by a mapping key: a.b, or a["odd key"].
func pathKey(path, key string) string {
	switch {
	case plainKey.MatchString(key) && path == "":
		return key
	case plainKey.MatchString(key):
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// suggest returns ` (did you mean "x"?)` for a key one or two edits away
// from a known one.
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

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
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
