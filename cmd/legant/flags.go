package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// issuerUse is what --issuer means for a command: its default and its help.
// An empty default means what the help says: the gateway's public URL
// (resolved with issuerOr), "any", "not checked", or that it is required.
type issuerUse struct{ def, usage string }

// The meanings of --issuer, one per kind of command; every command registers
// the flag through registerIssuer with one of them.
var (
	// issuerFlagAnchor: store commands record it in the anchors they sign.
	issuerFlagAnchor = issuerUse{def: "legant", usage: "issuer name recorded in signed anchors"}
	// issuerFlagGateway: `legant gateway` trusts tokens of it.
	issuerFlagGateway = issuerUse{usage: "issuer (iss) of trusted tokens (default: the public URL)"}
	// issuerFlagDemo: `legant demo` mints its token as it.
	issuerFlagDemo = issuerUse{usage: "issuer (iss) of the demo's tokens (default: the gateway's URL, which also serves the authorization server)"}
	// issuerFlagExplain: `legant explain` requires it, as the gateway would.
	issuerFlagExplain = issuerUse{usage: "issuer the token must carry (default: --public-url)"}
	// Offline token tools: required, checked only when given, or minted as.
	issuerFlagWhoCan    = issuerUse{usage: "issuer the tokens must carry (default: any)"}
	issuerFlagShow      = issuerUse{usage: "require this issuer (default: not checked)"}
	issuerFlagAttenuate = issuerUse{usage: "also require the parent's issuer to be this URL"}
	issuerFlagMint      = issuerUse{usage: "issuer URL (iss); required"}
)

// registerIssuer registers --issuer into p with the meaning u.
func registerIssuer(fs *pflag.FlagSet, p *string, u issuerUse) {
	fs.StringVar(p, "issuer", u.def, u.usage)
}

// issuerOr resolves an --issuer whose default is the public URL: the
// co-resident authorization server's identifier is the gateway's own URL.
// Both empty gives "".
func issuerOr(issuer, publicURL string) string {
	if issuer != "" {
		return issuer
	}
	return publicURL
}

// readToken returns a token given on the command line, or read from
// standard input when it is "-"; surrounding white space is trimmed.
func readToken(arg string, in io.Reader) (string, error) {
	if arg != "-" {
		return strings.TrimSpace(arg), nil
	}
	b, err := io.ReadAll(io.LimitReader(in, 1<<20))
	if err != nil {
		return "", fmt.Errorf("reading the token from stdin: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
