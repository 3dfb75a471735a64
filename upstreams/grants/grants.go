package grants

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/upstreams"
)

// DefaultTTL is the lifetime of a grant's token when the grant sets no ttl.
const DefaultTTL = 24 * time.Hour

// File is one parsed legant.grants.yaml. It is a plain value: safe for
// concurrent reads, never modified after Parse.
type File struct {
	Source string // the name it was parsed from
	Issuer string // iss of every token the file's grants stand for
	Grants []*Grant
}

// Grant is one entry: a user delegates to a chain of agents the use of some
// tools of one upstream, within constraints.
type Grant struct {
	Name     string   // unique in the file; names the token file and the state entry
	User     string   // sub
	Agents   []string // the act chain, first delegate first
	ClientID string
	Upstream string   // registry slug; the token's audience is its inbound audience
	Tools    []string // the tools allow-list; never empty
	// Scopes given explicitly; nil means the scopes the granted tools need
	// (from the registry).
	Scopes []string
	// Constraints hold the tools and every constraint the grant sets,
	// normalized; a dimension it does not set is unrestricted.
	Constraints authority.Constraints
	TTL         time.Duration
	Pos         upstreams.Position

	where map[string]upstreams.Position // field ("tools[1]", "max_amount") → where it was written
}

// Where returns where field ("upstream", "tools[0]", "scopes[1]",
// "max_amount", …) of the grant was written; the grant's position when the
// field was not.
func (g *Grant) Where(field string) upstreams.Position {
	if p, ok := g.where[field]; ok {
		return p
	}
	return g.Pos
}

// Chain returns "user:alice → agent:planner".
func (g *Grant) Chain() string {
	s := "user:" + g.User
	for _, a := range g.Agents {
		s += " → agent:" + a
	}
	return s
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Load reads and parses a grants file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Sniff reports whether data looks like a grants file (a top-level "grants"
// key) rather than an upstream registry; `legant lint` dispatches on it.
func Sniff(data []byte) bool {
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil {
		return false
	}
	_, ok := top["grants"]
	return ok
}

// Parse parses and validates a grants file on its own (no registry). It
// returns upstreams.ValidationErrors listing every problem in file order.
func Parse(name string, data []byte) (f *File, err error) {
	d := &decoder{file: name}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(errTooComplex); !ok {
				panic(r)
			}
			f, err = nil, upstreams.ValidationErrors{{File: name, Msg: "document too complex: aliases expand to too many nodes"}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		return nil, upstreams.ValidationErrors{{File: name, Line: yamlLine(err), Msg: "YAML: " + err.Error()}}
	}
	var extra yaml.Node
	if dec.Decode(&extra) == nil {
		return nil, upstreams.ValidationErrors{{File: name, Line: extra.Line, Msg: "only one YAML document is allowed"}}
	}
	f = &File{Source: name}
	d.file_(&root, f)
	if len(d.errs) > 0 {
		sortErrs(d.errs)
		return nil, d.errs
	}
	return f, nil
}

var lineRE = regexp.MustCompile(`line (\d+)`)

func yamlLine(err error) int {
	var n int
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		fmt.Sscan(m[1], &n)
	}
	return n
}

func (d *decoder) file_(root *yaml.Node, f *File) {
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	version, issuer := false, false
	d.fields(root, "", "a mapping with version, issuer and grants", map[string]func(entry){
		"version": func(e entry) {
			version = true
			if v, ok := d.integer(e); ok && v != 1 {
				d.errorf(e.val, e.path, "unsupported version %d: want 1", v)
			}
		},
		"issuer": func(e entry) {
			issuer = true
			if s, ok := d.str(e); ok {
				if _, err := authority.CanonicalResource(s); err != nil || !strings.HasPrefix(s, "http") {
					d.errorf(e.val, e.path, "must be the issuer's http(s) URL, got %q", s)
				}
				f.Issuer = s
			}
		},
		"grants": func(e entry) { f.Grants = d.grants(e) },
	})
	if root.Kind == yaml.MappingNode && !version {
		d.errorf(root, "version", "required (version: 1)")
	}
	if root.Kind == yaml.MappingNode && !issuer {
		d.errorf(root, "issuer", "required: the iss of the tokens grants stand for")
	}
}

func (d *decoder) grants(e entry) []*Grant {
	if e.val.Kind != yaml.SequenceNode {
		d.errorf(e.val, e.path, "must be a list of grants, got %s", kindName(e.val))
		return nil
	}
	var out []*Grant
	names := map[string]int{}
	for i, n := range e.val.Content {
		n = d.resolve(n)
		g := d.grant(n, fmt.Sprintf("grants[%d]", i))
		if g == nil {
			continue
		}
		if first, dup := names[g.Name]; dup {
			d.errorf(n, fmt.Sprintf("grants[%d].name", i), "duplicate grant name %q (first at line %d)", g.Name, first)
			continue
		}
		names[g.Name] = g.Pos.Line
		out = append(out, g)
	}
	return out
}

// errReported marks a field whose problem is already reported.
var errReported = errors.New("reported")
