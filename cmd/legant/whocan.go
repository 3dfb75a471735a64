package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/keydir"
	"github.com/openlegant/legant/policy"
)

type whoCanFlags struct {
	dir, keys, issuer, tool, scope, at string
	registry, upstream, publicURL      string
	resourceKind                       string
	grants                             string // a grants file to answer from instead of --dir
	sample                             policy.Sample
	all                                bool
}

func newWhoCanCmd() *cobra.Command {
	var f whoCanFlags
	cmd := &cobra.Command{
		Use:   "who-can",
		Short: "List the tokens of a directory that would be allowed a call",
		Long: `Read every file of a directory as one delegation token, verify its signature
and lifetime against a key directory, and decide a hypothetical call with each:
the tool and the values policy checks (amount, currency, category, resource).
Prints the tokens that would be allowed, with their provenance (user and
agent chain); --all also prints the others with the reason.

With --registry and --upstream, the tool's real binding is used and a token
must carry the upstream's inbound audience. Without them, the call binds
/amount, /currency, /category and /resource, and --scope (if any) is required.
Stateless: budgets and call counts are not consulted.`,
		Example: `  legant who-can --keys ./keys --dir ./tokens --tool submit_expense --amount 300 --category travel`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runWhoCan(cmd.OutOrStdout(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", "", "directory of tokens, one per file (required)")
	fl.StringVar(&f.keys, "keys", keydir.DefaultDir, "key directory to verify the tokens with")
	registerIssuer(fl, &f.issuer, issuerFlagWhoCan)
	fl.StringVar(&f.tool, "tool", "", "tool name (required)")
	fl.StringVar(&f.sample.Amount, "amount", "", "amount of the call, a plain decimal")
	fl.StringVar(&f.sample.Currency, "currency", "", "ISO 4217 currency of the amount")
	fl.StringVar(&f.sample.Category, "category", "", "category of the call")
	fl.StringVar(&f.sample.Resource, "resource", "", "resource the call touches")
	fl.StringVar(&f.resourceKind, "resource-kind", string(policy.ResourceName), "url, path or name (without --registry)")
	fl.StringVar(&f.scope, "scope", "", "scope the tool requires (without --registry)")
	fl.StringVar(&f.registry, "registry", "", "upstream registry file: use the tool's real binding")
	fl.StringVar(&f.upstream, "upstream", "", "upstream slug in --registry")
	fl.StringVar(&f.publicURL, "public-url", "", "gateway's public base URL, for upstreams without inbound_audience")
	fl.StringVar(&f.at, "at", "", "instant of the call, RFC 3339 (default now)")
	fl.BoolVar(&f.all, "all", false, "also list the tokens that would be denied, and why")
	fl.StringVar(&f.grants, "grants", "", "answer from a grants file (with --registry and --upstream) instead of --dir")
	cmd.MarkFlagsOneRequired("dir", "grants")
	cmd.MarkFlagsMutuallyExclusive("dir", "grants")
	_ = cmd.MarkFlagRequired("tool")
	return cmd
}

// tokenResult is one file's outcome.
type tokenResult struct {
	file     string
	claims   *authority.Claims // nil when the token did not verify
	decision policy.Decision
}

func runWhoCan(out io.Writer, f whoCanFlags) error {
	if f.grants != "" {
		return runWhoCanGrants(out, f)
	}
	at, err := parseAt(f.at)
	if err != nil {
		return err
	}
	binding, audience, err := whoCanBinding(f)
	if err != nil {
		return err
	}
	call, err := policy.SampleCall(binding, f.tool, f.sample, at)
	if err != nil {
		return err
	}
	keys, err := keydir.Load(f.keys)
	if err != nil {
		return err
	}
	files, err := tokenFiles(f.dir)
	if err != nil {
		return err
	}
	opts := authority.VerifyOptions{Issuer: f.issuer, Audience: audience, RequireActor: true}
	var results []tokenResult
	for _, file := range files {
		r := tokenResult{file: filepath.Base(file)}
		r.claims, r.decision = decideFile(file, keys, opts, binding, call)
		results = append(results, r)
	}
	printWhoCan(out, results, f.all)
	return nil
}

// whoCanBinding returns the binding to decide with and the audience tokens must carry ("" = any).
func whoCanBinding(f whoCanFlags) (*policy.Binding, string, error) {
	if f.registry != "" || f.upstream != "" {
		if f.registry == "" || f.upstream == "" {
			return nil, "", fmt.Errorf("--registry and --upstream go together")
		}
		up, err := loadUpstream(f.registry, f.upstream, f.publicURL)
		if err != nil {
			return nil, "", err
		}
		b, ok := up.Tool(f.tool)
		if !ok {
			return nil, "", fmt.Errorf("upstream %q does not register tool %q", f.upstream, f.tool)
		}
		return b, up.InboundAudience, nil
	}
	kind, err := policy.ParseResourceKind(f.resourceKind)
	if err != nil {
		return nil, "", fmt.Errorf("--resource-kind %q: want url, path or name", f.resourceKind)
	}
	return policy.SampleBinding(f.tool, f.scope, f.sample, kind), "", nil
}

// tokenFiles lists the regular, non-hidden files of dir, sorted.
func tokenFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("token directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

// decideFile verifies one token file and decides the call with it.
func decideFile(file string, keys *authority.KeySet, opts authority.VerifyOptions, b *policy.Binding, call policy.Call) (*authority.Claims, policy.Decision) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, policy.Deny(policy.ReasonUnauthenticated, "%v", err)
	}
	claims, err := authority.Inspect(strings.TrimSpace(string(raw)), keys, opts, call.At)
	if err != nil {
		return nil, policy.Deny(policy.ReasonUnauthenticated, "token: %v", err)
	}
	return claims, policy.Decide(claims, b, call)
}

func printWhoCan(out io.Writer, results []tokenResult, all bool) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	defer w.Flush()
	allowed := 0
	for _, r := range results {
		if r.decision.Allow {
			allowed++
		}
		if !r.decision.Allow && !all {
			continue
		}
		who := "-"
		if r.claims != nil {
			who = describeClaims(r.claims)
		}
		verdict := "ALLOW"
		if !r.decision.Allow {
			verdict = "DENY " + string(r.decision.Reason)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", verdict, r.file, who)
		if !r.decision.Allow {
			fmt.Fprintf(w, "\t\t%s\n", r.decision.Message)
		}
	}
	fmt.Fprintf(w, "%d of %d tokens allowed\n", allowed, len(results))
}
