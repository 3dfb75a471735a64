package oauth

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// NoPassword is the password hash of an account provisioned by an upstream
// provider: no password logs in to it.
const NoPassword = "!sso"

// Username mappings of an upstream provider.
const (
	// UsernameEmail names the user by the verified e-mail address (the
	// default): alice@example.com.
	UsernameEmail = "email"
	// UsernameSubject names the user <provider>:<sub>: stable when e-mail
	// addresses change, unreadable otherwise.
	UsernameSubject = "subject"
)

// SSOConfig is the --sso-config file:
//
//	providers:
//	  - name: corp                    # /login/sso/corp; [a-z0-9-]
//	    title: Example Corp           # the button
//	    issuer: https://login.example.com
//	    client_id: legant
//	    client_secret: {env: LEGANT_SSO_CORP_SECRET}   # or {file: /run/secrets/corp}
//	    scopes: [openid, email, profile, groups]       # default openid email profile
//	    username: email               # or subject
//	    allowed_domains: [example.com]
//	    provision: true               # create accounts at first sign-in…
//	    allow: [alice@example.com]    # …for these (or anyone in allowed_domains)
//	    groups_claim: groups
//	    admin_groups: [legant-admins]
type SSOConfig struct {
	Providers []SSOProvider `yaml:"providers"`
}

// SSOProvider is one upstream OpenID provider.
type SSOProvider struct {
	Name           string    `yaml:"name"`
	Title          string    `yaml:"title"`
	Issuer         string    `yaml:"issuer"`
	ClientID       string    `yaml:"client_id"`
	ClientSecret   SecretRef `yaml:"client_secret"`
	Scopes         []string  `yaml:"scopes"`
	Username       string    `yaml:"username"`
	AllowedDomains []string  `yaml:"allowed_domains"`
	// Provision creates the local account at the first sign-in of someone
	// Allow lists (e-mail or subject) or, without Allow, of anyone whose
	// verified e-mail is in AllowedDomains. One of the two is required.
	Provision bool     `yaml:"provision"`
	Allow     []string `yaml:"allow"`
	// LinkExisting lets a first sign-in take over the local account of the
	// same name (off: such a sign-in is refused).
	LinkExisting bool   `yaml:"link_existing"`
	GroupsClaim  string `yaml:"groups_claim"`
	// AdminGroups: when set, the admin role follows membership of one of
	// these groups at every sign-in; when empty, roles are managed with
	// legant users grant-admin.
	AdminGroups []string `yaml:"admin_groups"`
}

// SecretRef names a secret without holding it: an environment variable or
// a file (its first line). A literal secret in the file is refused.
type SecretRef struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// UnmarshalYAML refuses a plain string: secrets go by reference.
func (r *SecretRef) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return fmt.Errorf("line %d: client_secret must be a reference ({env: NAME} or {file: PATH}), not the secret", n.Line)
	}
	type plain SecretRef
	return n.Decode((*plain)(r))
}

func (r SecretRef) resolve() (string, error) {
	switch {
	case r.Env != "" && r.File != "":
		return "", errors.New("give env or file, not both")
	case r.Env != "":
		v := os.Getenv(r.Env)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty", r.Env)
		}
		return v, nil
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if line = strings.TrimRight(line, "\r"); line == "" {
			return "", fmt.Errorf("%s is empty", r.File)
		}
		return line, nil
	}
	return "", errors.New("required ({env: NAME} or {file: PATH})")
}

func (p SSOProvider) title() string {
	if p.Title != "" {
		return p.Title
	}
	return p.Name
}

func (p SSOProvider) scopes() []string {
	if len(p.Scopes) == 0 {
		return []string{ScopeOpenID, ScopeEmail, ScopeProfile}
	}
	return p.Scopes
}

func (p SSOProvider) username() string {
	if p.Username == "" {
		return UsernameEmail
	}
	return p.Username
}

func (p SSOProvider) groupsClaim() string {
	if p.GroupsClaim == "" {
		return "groups"
	}
	return p.GroupsClaim
}

// admits reports whether a first sign-in may create the account.
func (p SSOProvider) admits(email, subject string) bool {
	if len(p.Allow) > 0 {
		return (email != "" && slices.Contains(p.Allow, email)) || slices.Contains(p.Allow, subject)
	}
	_, domain, _ := strings.Cut(email, "@")
	return email != "" && len(p.AllowedDomains) > 0 && slices.Contains(p.AllowedDomains, domain)
}

var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ParseSSOConfig parses and checks an SSO configuration; errors name the
// file and line.
func ParseSSOConfig(file string, data []byte) (SSOConfig, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return SSOConfig{}, fmt.Errorf("%s: %w", file, err)
	}
	var cfg SSOConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return SSOConfig{}, fmt.Errorf("%s: %w", file, err)
	}
	lines := providerLines(&root)
	seen := map[string]bool{}
	for i, p := range cfg.Providers {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		fail := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: provider %q: %s", file, line, p.Name, fmt.Sprintf(format, a...))
		}
		u, err := url.Parse(p.Issuer)
		switch {
		case !providerName.MatchString(p.Name):
			return cfg, fail("name must be 1-32 of [a-z0-9-]")
		case seen[p.Name]:
			return cfg, fail("name is used twice")
		case err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))):
			return cfg, fail("issuer must be an https URL (http only on loopback)")
		case p.ClientID == "":
			return cfg, fail("client_id is required")
		case p.Username != "" && p.Username != UsernameEmail && p.Username != UsernameSubject:
			return cfg, fail("username must be email or subject")
		case !slices.Contains(p.scopes(), ScopeOpenID):
			return cfg, fail("scopes must include openid")
		case p.Provision && len(p.Allow) == 0 && len(p.AllowedDomains) == 0:
			return cfg, fail("provision needs allow or allowed_domains (who may get an account)")
		}
		if _, err := p.ClientSecret.resolve(); err != nil {
			return cfg, fail("client_secret: %v", err)
		}
		seen[p.Name] = true
	}
	return cfg, nil
}

// LoadSSOConfig reads and parses file.
func LoadSSOConfig(file string) (SSOConfig, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return SSOConfig{}, err
	}
	return ParseSSOConfig(file, data)
}

// providerLines returns the line of each item of the providers list.
func providerLines(root *yaml.Node) []int {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "providers" {
			var out []int
			for _, it := range m.Content[i+1].Content {
				out = append(out, it.Line)
			}
			return out
		}
	}
	return nil
}
