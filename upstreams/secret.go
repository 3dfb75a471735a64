package upstreams

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secret is a credential the registry names by reference, never by value:
// {env: NAME} (a variable of the gateway's environment) or {file: PATH} (a
// file's content without its final newline; a relative path is relative to
// the registry file). It is resolved when the registry is loaded with
// Options.ResolveSecrets, and held in memory only.
//
// Every way of printing a Secret (fmt, slog, encoding/json, yaml) shows its
// reference, never its value; Reveal returns the value. The zero Secret is
// "no secret".
type Secret struct {
	// Ref names where the value comes from ("env:NAME", "file:/run/key"):
	// safe to show.
	Ref   string
	value string
}

// Reveal returns the secret's value: "" when the registry was loaded
// without Options.ResolveSecrets. Send it; never log or echo it.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether no secret is set.
func (s Secret) IsZero() bool { return s.Ref == "" }

// String shows the reference only.
func (s Secret) String() string { return "[secret " + s.Ref + "]" }

// GoString shows the reference only (%#v).
func (s Secret) GoString() string { return s.String() }

// Format shows the reference only, whatever the verb.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// LogValue shows the reference only.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON shows the reference only.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText shows the reference only.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// maxSecretFile bounds a secret file (a key, a token, a certificate).
const maxSecretFile = 64 << 10

// secretRef is {env: NAME} or {file: PATH} as written.
type secretRef struct {
	env, file field[string]
}

// secretRef decodes a reference. A scalar is a literal secret: refused, so
// that a registry (which is checked in and shown in reviews) never holds one.
func (d *decoder) secretRef(e entry) field[secretRef] {
	f := field[secretRef]{node: e.val, path: e.path}
	if e.val.Kind == yaml.ScalarNode {
		d.errorf(e.val, e.path, "a literal secret is refused: write {env: NAME} or {file: PATH} (the registry holds no secret)")
		f.bad = true
		return f
	}
	f.bad = !d.fields(e.val, e.path, "{env: NAME} or {file: PATH}", map[string]func(entry){
		"env":  func(e entry) { f.v.env = d.str(e) },
		"file": func(e entry) { f.v.file = d.str(e) },
	})
	switch {
	case f.bad:
	case f.v.env.set() == f.v.file.set():
		d.errorf(e.val, e.path, "must have exactly one of env and file")
		f.bad = true
	case f.v.env.ok() && !envNameRE.MatchString(f.v.env.v):
		d.errorf(f.v.env.node, f.v.env.path, "environment variable names are letters, digits and '_', not starting with a digit")
		f.bad = true
	case f.v.file.ok() && (f.v.file.v == "" || strings.ContainsRune(f.v.file.v, 0)):
		d.errorf(f.v.file.node, f.v.file.path, "must be a file path")
		f.bad = true
	}
	f.bad = f.bad || !f.v.env.ok() && !f.v.file.ok()
	return f
}

// resolveSecret returns the Secret a reference names, reading its value when
// the decoder resolves secrets. Problems are reported without the value.
func (d *decoder) resolveSecret(f field[secretRef]) (Secret, bool) {
	if !f.ok() {
		return Secret{}, false
	}
	if f.v.env.ok() {
		s := Secret{Ref: "env:" + f.v.env.v}
		if !d.secrets {
			return s, true
		}
		v, ok := os.LookupEnv(f.v.env.v)
		switch {
		case !ok:
			d.errorf(f.v.env.node, f.v.env.path, "environment variable %s is not set", f.v.env.v)
			return Secret{}, false
		case v == "":
			d.errorf(f.v.env.node, f.v.env.path, "environment variable %s is empty", f.v.env.v)
			return Secret{}, false
		}
		s.value = v
		return s, true
	}
	path := f.v.file.v
	if !filepath.IsAbs(path) && d.file != "" {
		path = filepath.Join(filepath.Dir(d.file), path)
	}
	s := Secret{Ref: "file:" + path}
	if !d.secrets {
		return s, true
	}
	v, problem := readSecretFile(path)
	if problem != "" {
		d.errorf(f.v.file.node, f.v.file.path, "%s", problem)
		return Secret{}, false
	}
	s.value = v
	return s, true
}

// readSecretFile returns a file's content without one final newline, or a
// problem that does not quote the content.
func readSecretFile(path string) (string, string) {
	fh, err := os.Open(path)
	if err != nil {
		return "", fmt.Sprintf("cannot read the secret file: %v", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxSecretFile+1))
	switch {
	case err != nil:
		return "", fmt.Sprintf("cannot read the secret file %s", path)
	case len(data) > maxSecretFile:
		return "", fmt.Sprintf("the secret file %s is larger than %d bytes", path, maxSecretFile)
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if v == "" {
		return "", fmt.Sprintf("the secret file %s is empty", path)
	}
	return v, ""
}
