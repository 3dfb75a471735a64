package upstreams

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Load reads and parses the registry file at path.
func Load(path string, opts Options) (*Registry, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, opts)
}

// readFile reads at most MaxFileSize bytes, refusing a larger file.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("upstreams: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("upstreams: read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("upstreams: %s is larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// Parse parses and validates a registry. name is the file name that errors
// and Source report. On any problem it returns nil and a ValidationErrors
// listing every problem found; an invalid Options is a plain error.
func Parse(name string, data []byte, opts Options) (*Registry, error) {
	base, err := publicBase(opts.PublicURL)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, ValidationErrors{{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}
	}
	root, verr := parseYAML(name, data)
	if verr != nil {
		return nil, ValidationErrors{verr}
	}
	d := &decoder{file: name, secrets: opts.ResolveSecrets}
	ups := d.walk(root, base)
	if len(d.errs) > 0 {
		d.errs.sort()
		if d.dropped > 0 {
			d.errs = append(d.errs, &ValidationError{File: name, Msg: fmt.Sprintf("%d more problems not shown", d.dropped)})
		}
		return nil, d.errs
	}
	sum := sha256.Sum256(data)
	r := &Registry{source: name, digest: hex.EncodeToString(sum[:]), upstreams: ups, bySlug: make(map[string]*Upstream, len(ups))}
	slices.SortFunc(r.upstreams, func(a, b *Upstream) int { return cmp.Compare(a.Slug, b.Slug) })
	for _, u := range ups {
		r.bySlug[u.Slug] = u
	}
	return r, nil
}

// walk decodes and validates the document, turning alias blow-up into an error.
func (d *decoder) walk(root *yaml.Node, base string) (ups []*Upstream) {
	defer func() {
		if p := recover(); p != nil {
			if p != errTooComplex { //nolint:errorlint // sentinel identity, never wrapped
				panic(p)
			}
			d.errs, d.dropped = nil, 0 // a partial list would mislead
			d.errorf(root, "", "%v", errTooComplex)
		}
	}()
	return d.registry(d.document(root), base)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses exactly one YAML document into its root node.
func parseYAML(name string, data []byte) (root *yaml.Node, verr *ValidationError) {
	// yaml.v3 is third-party code fed by an editable file: a panic in it
	// must not take the gateway's watcher down.
	defer func() {
		if p := recover(); p != nil {
			root, verr = nil, &ValidationError{File: name, Msg: fmt.Sprintf("YAML parser failed: %v", p)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ValidationError{File: name, Line: 1, Col: 1, Field: "version", Msg: "is required (the file is empty)"}
		}
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &ValidationError{File: name, Line: extra.Line, Col: extra.Column, Msg: "a registry file holds one YAML document; found a second"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(name, err)
	}
	if len(doc.Content) == 0 {
		return nil, &ValidationError{File: name, Line: 1, Col: 1, Field: "version", Msg: "is required (the file is empty)"}
	}
	return doc.Content[0], nil
}

// parserProblems are the messages of yaml.v3's parser (as opposed to its
// scanner), whose "line N" is 0-based: the line where the unfinished
// construct (a flow sequence, a block mapping) started, counted from 0.
var parserProblems = map[string]bool{
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected key":              true,
	"did not find expected '-' indicator":    true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
}

// syntaxError turns yaml.v3's "yaml: line N: msg" into a positioned error,
// with the line made 1-based.
func syntaxError(name string, err error) *ValidationError {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		if parserProblems[m[2]] {
			line++
		}
		return &ValidationError{File: name, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &ValidationError{File: name, Msg: "invalid YAML: " + err.Error()}
}
