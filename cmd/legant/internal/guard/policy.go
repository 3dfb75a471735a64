package guard

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Policy is the guard's policy file (YAML). Paths may start with "~/".
//
//	version: 1
//	token: ~/.legant/agent.jwt        # the delegation token the agent works under
//	keys: ~/.legant/jwks.json         # a JWKS file or a key directory to verify it
//	issuer: https://gw.example
//	audience: legant:guard            # the aud the token must carry
//	feed: ~/.legant/revoked.jws       # signed revocation feed (cached file); optional
//	audit: ~/.legant/guard-audit.jsonl
//	default: allow                    # allow everything except what the rules deny
//	rules:
//	  - {effect: deny, tool: Bash, command: "curl *"}
//	  - {effect: allow, tool: "Read", path: "/work/**"}
type Policy struct {
	Version  int    `yaml:"version"`
	Token    string `yaml:"token"`
	Keys     string `yaml:"keys"`
	Issuer   string `yaml:"issuer"`
	Audience string `yaml:"audience"`
	Feed     string `yaml:"feed"`
	Audit    string `yaml:"audit"`
	Default  Effect `yaml:"default"`
	Rules    []Rule `yaml:"rules"`

	home string // what "~" means
}

// Effect is allow or deny.
type Effect string

const (
	Allow Effect = "allow"
	Deny  Effect = "deny"
)

// Rule matches a use by tool name, path and command, each a glob ("" = any):
// "*" matches within a path segment (or any run of characters in a tool or
// command), "**" any run of segments. A rule with a path matches a use
// touching at least one matching path; with a command, a use whose command
// matches.
type Rule struct {
	Effect  Effect `yaml:"effect"`
	Tool    string `yaml:"tool"`
	Path    string `yaml:"path"`
	Command string `yaml:"command"`
	Reason  string `yaml:"reason"`
}

// LoadPolicy reads a policy file; home is what "~/" expands to.
func LoadPolicy(path, home string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePolicy(data, home)
}

// ParsePolicy parses a policy strictly (unknown fields are errors).
func ParsePolicy(data []byte, home string) (*Policy, error) {
	p := &Policy{home: home}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("guard policy: %w", err)
	}
	if p.Version != 1 {
		return nil, fmt.Errorf("guard policy: version %d, want 1", p.Version)
	}
	if p.Default == "" {
		p.Default = Deny
	}
	if p.Default != Allow && p.Default != Deny {
		return nil, fmt.Errorf("guard policy: default %q: want allow or deny", p.Default)
	}
	for i, r := range p.Rules {
		if r.Effect != Allow && r.Effect != Deny {
			return nil, fmt.Errorf("guard policy: rules[%d].effect %q: want allow or deny", i, r.Effect)
		}
		if r.Tool == "" && r.Path == "" && r.Command == "" {
			return nil, fmt.Errorf("guard policy: rules[%d] matches everything: say tool, path or command (or set default)", i)
		}
	}
	if p.Token != "" && (p.Keys == "" || p.Issuer == "" || p.Audience == "") {
		return nil, fmt.Errorf("guard policy: a token needs keys, issuer and audience to be verified")
	}
	for _, f := range []*string{&p.Token, &p.Keys, &p.Feed, &p.Audit} {
		*f = p.expand(*f)
	}
	for i := range p.Rules {
		p.Rules[i].Path = p.expand(p.Rules[i].Path)
	}
	return p, nil
}

func (p *Policy) expand(s string) string {
	if s == "~" {
		return p.home
	}
	if strings.HasPrefix(s, "~/") {
		return filepath.Join(p.home, s[2:])
	}
	return s
}
