package guard

import (
	"path/filepath"
	"regexp"
	"strings"
)

// A tripwire is a catastrophic use no rule and no token can allow.
type tripwire struct {
	name string
	re   *regexp.Regexp
}

// commandTripwires match shell commands. They are deliberately broad: a
// false alarm costs a re-phrased command, a miss can cost a machine.
var commandTripwires = []tripwire{
	{"rm -rf of /, ~ or $HOME", regexp.MustCompile(`(^|[;&|(\s])(sudo\s+)?rm\s+(-[a-zA-Z]*[rR][a-zA-Z]*\s+(-[a-zA-Z]+\s+)*|-[a-zA-Z]*f[a-zA-Z]*\s+-[a-zA-Z]*[rR][a-zA-Z]*\s+|--recursive\s+(--force\s+)?|--force\s+--recursive\s+)(--\s+)?("?(/|/\*|~|~/|~/\*|\$HOME|\$HOME/|\$HOME/\*|\$\{HOME\}|/\.|\.\./\.\.)"?)(\s|$|;|&|\|)`)},
	{"git push --force", regexp.MustCompile(`\bgit\b[^;&|]*\bpush\b[^;&|]*(\s--force(-with-lease)?\b|\s-[a-zA-Z]*f[a-zA-Z]*\b|\s\+[^\s]+)`)},
	{"credential file", regexp.MustCompile(`(~|\$HOME|\$\{HOME\}|/home/[^/\s]+|/root)/\.ssh(/|\b)|\.aws/credentials\b|(^|[\s/'"=<])\.env(\.[A-Za-z0-9_-]+)?($|[\s'";|&>)])`)},
	{"disk wipe", regexp.MustCompile(`\bmkfs(\.\w+)?\s|\bdd\b[^;&|]*\bof=/dev/(sd|nvme|disk|hd|vd)|>\s*/dev/(sd|nvme|disk)`)},
	{"fork bomb", regexp.MustCompile(`:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:`)},
}

// credentialPath reports whether p (absolute, or relative to cwd) is a
// credential file: anything under ~/.ssh, ~/.aws/credentials, a .env file.
func credentialPath(p, home, cwd string) bool {
	if !filepath.IsAbs(p) && cwd != "" {
		p = filepath.Join(cwd, p)
	}
	p = filepath.Clean(p)
	base := filepath.Base(p)
	if base == ".env" || strings.HasPrefix(base, ".env.") {
		return true
	}
	if home != "" {
		ssh := filepath.Join(home, ".ssh")
		if p == ssh || strings.HasPrefix(p, ssh+string(filepath.Separator)) || p == filepath.Join(home, ".aws", "credentials") {
			return true
		}
	}
	return strings.Contains(p, "/.ssh/") || strings.HasSuffix(p, "/.ssh") || strings.HasSuffix(p, "/.aws/credentials")
}

// tripped returns the tripwire u trips, "" when none.
func tripped(u Use, home string) string {
	if u.Command != "" {
		for _, t := range commandTripwires {
			if t.re.MatchString(u.Command) {
				return t.name
			}
		}
	}
	for _, p := range u.Paths {
		if credentialPath(p, home, u.Cwd) {
			return "credential file"
		}
	}
	return ""
}
