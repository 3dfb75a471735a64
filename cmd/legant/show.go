package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/keydir"
)

type showFlags struct {
	keys, issuer, audience string
	json                   bool
}

func newShowCmd() *cobra.Command {
	var f showFlags
	cmd := &cobra.Command{
		Use:   "show TOKEN|-",
		Short: "Verify a delegation token and show who acts for whom, with what limits",
		Long: `Verify a token's signature and validity period against a key directory and
print its provenance (user:alice → agent:planner → agent:executor), scopes,
audiences, constraints and expiry. The issuer and the audience are checked
only when --issuer and --aud are given; otherwise they are shown as they are.
"-" reads the token from stdin.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := readToken(args[0], cmd.InOrStdin())
			if err != nil {
				return err
			}
			ks, err := keydir.Load(f.keys)
			if err != nil {
				return err
			}
			now := time.Now()
			c, err := authority.Inspect(tok, ks, authority.VerifyOptions{Issuer: f.issuer, Audience: f.audience}, now)
			if err != nil {
				return fmt.Errorf("token not valid: %w", err)
			}
			if f.json {
				return printClaimsJSON(cmd.OutOrStdout(), c, f)
			}
			return printClaims(cmd.OutOrStdout(), c, f, now)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.keys, "keys", keydir.DefaultDir, "key directory")
	registerIssuer(fs, &f.issuer, issuerFlagShow)
	fs.StringVar(&f.audience, "aud", "", "require this audience (default: not checked)")
	fs.BoolVar(&f.json, "json", false, "print JSON for machines")
	return cmd
}

func checked(flag string) string {
	if flag == "" {
		return " (not checked)"
	}
	return " (checked)"
}

func printClaims(out io.Writer, c *authority.Claims, f showFlags, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "provenance\t%s\n", c.Provenance())
	fmt.Fprintf(tw, "issuer\t%s%s\n", c.Issuer, checked(f.issuer))
	fmt.Fprintf(tw, "audience\t%s%s\n", joinOr(c.Audience, "none"), checked(f.audience))
	fmt.Fprintf(tw, "scopes\t%s\n", joinOr(c.Scopes, "none"))
	fmt.Fprintf(tw, "expires\t%s (in %s)\n", c.ExpiresAt.UTC().Format(time.RFC3339), c.ExpiresAt.Sub(now).Round(time.Second))
	if !c.IssuedAt.IsZero() {
		fmt.Fprintf(tw, "issued\t%s\n", c.IssuedAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "token id\t%s\n", orDash(c.ID))
	fmt.Fprintf(tw, "delegation\t%s (parent %s)\n", orDash(c.DelegationID), orDash(c.ParentID))
	fmt.Fprintln(tw, "constraints")
	for _, line := range describeConstraints(c.Constraints) {
		fmt.Fprintf(tw, "  %s\t%s\n", line[0], line[1])
	}
	return tw.Flush()
}

// describeConstraints renders every dimension: "any" when unrestricted,
// "none" for deny-all.
func describeConstraints(c authority.Constraints) [][2]string {
	set := func(s authority.Set) string {
		switch {
		case s.Unrestricted():
			return "any"
		case s.Empty():
			return "none (deny all)"
		}
		return strings.Join(s.Items(), ", ")
	}
	money := func(m *authority.Money) string {
		if m == nil {
			return "no limit"
		}
		return m.String()
	}
	calls, window := "no limit", "any time"
	if c.MaxCalls != nil {
		calls = strconv.FormatInt(*c.MaxCalls, 10)
	}
	if c.Window != nil {
		window = c.Window.String()
	}
	return [][2]string{
		{"tools", set(c.Tools)}, {"resources", set(c.Resources)}, {"categories", set(c.Categories)},
		{"max_amount", money(c.MaxAmount)}, {"budget", money(c.Budget)}, {"max_calls", calls}, {"window", window},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// showJSON is the --json output: the verified claims in their wire form
// plus the derived views.
type showJSON struct {
	Provenance      string           `json:"provenance"`
	Principal       string           `json:"principal"`
	Chain           []string         `json:"chain"`
	IssuerChecked   bool             `json:"issuer_checked"`
	AudienceChecked bool             `json:"audience_checked"`
	Claims          authority.Claims `json:"claims"`
}

func printClaimsJSON(out io.Writer, c *authority.Claims, f showFlags) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(showJSON{
		Provenance: c.Provenance(), Principal: c.Principal(), Chain: append([]string{}, c.Chain()...),
		IssuerChecked: f.issuer != "", AudienceChecked: f.audience != "", Claims: *c,
	})
}
