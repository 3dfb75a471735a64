package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/keydir"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// errDenied makes a command exit with status 1 after it printed a denial.
var errDenied = errors.New("denied")

type explainFlags struct {
	keys, token, registry, upstream, tool, args, at, issuer, publicURL string
	grants, grant                                                      string // explain a grant of a grants file instead of a token
}

func newExplainCmd() *cobra.Command {
	var f explainFlags
	cmd := &cobra.Command{
		Use:   "explain",
		Short: "Show how policy would decide one tools/call, without calling anything",
		Long: `Verify a delegation token against a key directory, with the issuer and the
audience the gateway would require (the upstream's inbound audience from the
registry), then decide one tools/call exactly as the gateway would, and print
the decision, its reason and the JSON-RPC error a client would receive.
Budgets and call counts are not consulted (they live in the ledger).
Exit status: 0 when allowed, 1 when denied or on error.`,
		Example: `  legant explain --keys ./keys --issuer https://gw.example --token "$TOKEN" \
    --registry legant.yaml --upstream expenses --tool submit_expense --args '{"amount":700}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runExplain(cmd.OutOrStdout(), cmd.InOrStdin(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.keys, "keys", keydir.DefaultDir, "key directory holding the issuer's keys")
	fl.StringVar(&f.token, "token", "", `the delegation token; "-" reads it from standard input (required)`)
	fl.StringVar(&f.registry, "registry", "legant.yaml", "upstream registry file")
	fl.StringVar(&f.upstream, "upstream", "", "upstream slug (required)")
	fl.StringVar(&f.tool, "tool", "", "tool name (required)")
	fl.StringVar(&f.args, "args", "{}", "the call's arguments, a JSON object, exactly as sent")
	fl.StringVar(&f.at, "at", "", "instant of the call, RFC 3339 (default now)")
	registerIssuer(fl, &f.issuer, issuerFlagExplain)
	fl.StringVar(&f.publicURL, "public-url", "", "gateway's public base URL, for upstreams without inbound_audience")
	fl.StringVar(&f.grants, "grants", "", "grants file: explain the token --grant stands for instead of --token")
	fl.StringVar(&f.grant, "grant", "", "name of the grant in --grants")
	cmd.MarkFlagsOneRequired("token", "grants")
	cmd.MarkFlagsMutuallyExclusive("token", "grants")
	cmd.MarkFlagsRequiredTogether("grants", "grant")
	_ = cmd.MarkFlagRequired("tool")
	return cmd
}

func runExplain(out io.Writer, in io.Reader, f explainFlags) error {
	if f.grants != "" {
		return runExplainGrant(out, f)
	}
	if f.upstream == "" {
		return errors.New(`required flag(s) "upstream" not set`)
	}
	at, err := parseAt(f.at)
	if err != nil {
		return err
	}
	up, err := loadUpstream(f.registry, f.upstream, f.publicURL)
	if err != nil {
		return err
	}
	keys, issuer, err := openKeyDir(f.keys, f.issuer, f.publicURL)
	if err != nil {
		return err
	}
	token, err := readToken(f.token, in)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "upstream:\t%s (audience %s)\n", up.Slug, up.InboundAudience)
	claims, err := authority.Verify(token, keys, authority.VerifyOptions{
		Issuer: issuer, Audience: up.InboundAudience, RequireActor: true,
	}, at)
	if err != nil {
		printDecision(w, policy.Deny(policy.ReasonUnauthenticated, "token: %v", err))
		return errDenied
	}
	fmt.Fprintf(w, "token:\t%s\n", describeClaims(claims))
	binding, _ := up.Tool(f.tool)
	if binding != nil {
		fmt.Fprintf(w, "tool:\t%s (scope %s)\n", f.tool, orNone(binding.Scope))
	}
	d := policy.Decide(claims, binding, policy.Call{Tool: f.tool, Arguments: json.RawMessage(f.args), At: at})
	printDecision(w, d)
	if d.Allow && (claims.Constraints.Budget != nil || claims.Constraints.MaxCalls != nil) {
		fmt.Fprintf(w, "note:\tthe gateway also reserves this call against the delegation's budget or max_calls\n")
	}
	if d.Allow && binding != nil && binding.Approval != nil {
		fmt.Fprintf(w, "note:\tthe gateway also holds this call until a second person approves it (one of %s; never %s or an agent of the chain)\n",
			strings.Join(binding.Approval.From, ", "), claims.Subject)
	}
	if !d.Allow {
		return errDenied
	}
	return nil
}

// printDecision writes a decision as aligned "field: value" lines.
func printDecision(w io.Writer, d policy.Decision) {
	if d.Allow {
		fmt.Fprintf(w, "decision:\tallow\n")
	} else {
		fmt.Fprintf(w, "decision:\tdeny\nreason:\t%s\nmessage:\t%s\n", d.Reason, d.Message)
	}
	for _, kv := range [][2]string{
		{"argument", d.Argument}, {"limit", d.Limit}, {"value", d.Value},
		{"category", d.Category}, {"resource", d.Resource},
	} {
		if kv[1] != "" {
			fmt.Fprintf(w, "%s:\t%s\n", kv[0], kv[1])
		}
	}
	if d.Amount != nil {
		fmt.Fprintf(w, "amount:\t%s\n", strings.TrimSpace(d.Amount.Value.String()+" "+d.Amount.Currency))
	}
	if e := d.RPCError(); e != nil {
		b, _ := json.Marshal(e)
		fmt.Fprintf(w, "json-rpc error:\t%s\n", b)
	}
}

// describeClaims is the one-line identity of a token: provenance, ids, expiry.
func describeClaims(c *authority.Claims) string {
	s := c.Provenance()
	if c.ID != "" {
		s += " jti=" + c.ID
	}
	if c.DelegationID != "" {
		s += " delegation=" + c.DelegationID
	}
	return s + " expires=" + c.ExpiresAt.UTC().Format(time.RFC3339)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func parseAt(s string) (time.Time, error) {
	if s == "" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--at: %w", err)
	}
	return t, nil
}

func loadUpstream(registry, slug, publicURL string) (*upstreams.Upstream, error) {
	reg, err := upstreams.Load(registry, upstreams.Options{PublicURL: publicURL})
	if err != nil {
		return nil, err
	}
	up, ok := reg.Lookup(slug)
	if !ok {
		return nil, fmt.Errorf("registry %s has no upstream %q", registry, slug)
	}
	if up.InboundAudience == "" {
		return nil, fmt.Errorf("upstream %q has no inbound_audience: pass --public-url", slug)
	}
	return up, nil
}

// openKeyDir loads the verification keys of a key directory and the issuer
// tokens must carry: --issuer, else --public-url (the co-resident issuer's
// identifier).
func openKeyDir(dir, issuer, publicURL string) (*authority.KeySet, string, error) {
	if issuer = issuerOr(issuer, publicURL); issuer == "" {
		return nil, "", fmt.Errorf("--issuer (or --public-url) is required")
	}
	ks, err := keydir.Load(dir)
	if err != nil {
		return nil, "", err
	}
	return ks, issuer, nil
}
