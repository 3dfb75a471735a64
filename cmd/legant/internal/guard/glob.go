package guard

import (
	"path"
	"strings"
)

// matchPath matches a slash path against a glob where "**" spans segments.
func matchPath(glob, p string) bool {
	if glob == "" {
		return true
	}
	return matchSegs(strings.Split(glob, "/"), strings.Split(path.Clean(p), "/"))
}

func matchSegs(g, p []string) bool {
	for len(g) > 0 {
		if g[0] == "**" {
			for i := 0; i <= len(p); i++ {
				if matchSegs(g[1:], p[i:]) {
					return true
				}
			}
			return false
		}
		if len(p) == 0 {
			return false
		}
		if ok, err := path.Match(g[0], p[0]); err != nil || !ok {
			return false
		}
		g, p = g[1:], p[1:]
	}
	return len(p) == 0
}

// matchText matches text against a glob where "*" is any run of characters
// (including spaces and slashes) and "?" one character.
func matchText(glob, s string) bool {
	if glob == "" {
		return true
	}
	// iterative wildcard match, linear in practice
	gi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case gi < len(glob) && (glob[gi] == '?' || glob[gi] == s[si]):
			gi++
			si++
		case gi < len(glob) && glob[gi] == '*':
			star, mark = gi, si
			gi++
		case star >= 0:
			gi, mark = star+1, mark+1
			si = mark
		default:
			return false
		}
	}
	for gi < len(glob) && glob[gi] == '*' {
		gi++
	}
	return gi == len(glob)
}
