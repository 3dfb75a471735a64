package main

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // windows name IANA zones: the binary must not depend on the host's tz database

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/keydir"
)

// constraintFlags are the constraint flags shared by mint and attenuate. A
// flag not given leaves its dimension unrestricted (mint) or inherited
// (attenuate).
type constraintFlags struct {
	tools, resources, categories []string
	maxAmount, currency, budget  string
	maxCalls                     int64
	window                       string
}

func (f *constraintFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.tools, "tool", nil, "allowed tool (repeatable; none given = any tool)")
	fs.StringArrayVar(&f.resources, "resource", nil, "allowed resource URL (repeatable; none given = any)")
	fs.StringArrayVar(&f.categories, "category", nil, "allowed category (repeatable; none given = any)")
	fs.StringVar(&f.maxAmount, "max-amount", "", "per-call maximum amount, an exact decimal (e.g. 500 or 499.99)")
	fs.StringVar(&f.currency, "currency", "", "ISO 4217 currency of --max-amount and --budget (none = any currency)")
	fs.StringVar(&f.budget, "budget", "", "cumulative amount over the delegation's life")
	fs.Int64Var(&f.maxCalls, "max-calls", 0, "calls allowed over the delegation's life")
	fs.StringVar(&f.window, "window", "", `allowed time window, e.g. "mon-fri 09:00-17:00 Europe/Paris"`)
}

// constraints builds the requested constraints from the flags that were set.
func (f *constraintFlags) constraints(fs *pflag.FlagSet) (authority.Constraints, error) {
	c := authority.Unrestricted()
	if fs.Changed("tool") {
		c.Tools = authority.Only(f.tools...)
	}
	if fs.Changed("resource") {
		c.Resources = authority.Only(f.resources...)
	}
	if fs.Changed("category") {
		c.Categories = authority.Only(f.categories...)
	}
	var err error
	if c.MaxAmount, err = moneyFlag("--max-amount", f.maxAmount, f.currency); err != nil {
		return c, err
	}
	if c.Budget, err = moneyFlag("--budget", f.budget, f.currency); err != nil {
		return c, err
	}
	if f.currency != "" && c.MaxAmount == nil && c.Budget == nil {
		return c, errors.New("--currency needs --max-amount or --budget")
	}
	if fs.Changed("max-calls") {
		n := f.maxCalls
		c.MaxCalls = &n
	}
	if f.window != "" {
		w, err := authority.ParseWindowSpec(f.window)
		if err != nil {
			return c, fmt.Errorf("--window: %w", err)
		}
		c.Window = &w
	}
	return c.Normalize()
}

func moneyFlag(name, value, currency string) (*authority.Money, error) {
	if value == "" {
		return nil, nil
	}
	d, err := authority.ParseDecimal(value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &authority.Money{Value: d, Currency: currency}, nil
}

type mintFlags struct {
	keys, issuer, user, clientID string
	agents, audiences, scopes    []string
	ttl                          time.Duration
	notBefore, expiresAt         string // RFC 3339; "" = not set
	constraints                  constraintFlags
}

func newMintCmd() *cobra.Command {
	var f mintFlags
	cmd := &cobra.Command{
		Use:   "mint",
		Short: "Mint a delegation token offline with the current key of a key directory",
		Long: `Mint a delegation token: the user delegates to the first --agent, who
delegates to the next, and so on (the act chain). Each constraint flag left
out leaves that dimension unrestricted. The token is printed on stdout.`,
		Example: `  legant mint --keys .legant/keys --issuer https://issuer.example --user alice \
    --agent planner --aud https://gw.example/mcp/expenses --scope expenses:write \
    --tool submit_expense --category travel --max-amount 500 --currency USD \
    --window 'mon-fri 09:00-17:00 Europe/Paris' --ttl 1h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := runMint(cmd.Flags(), f, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.keys, "keys", keydir.DefaultDir, "key directory")
	registerIssuer(fs, &f.issuer, issuerFlagMint)
	fs.StringVar(&f.user, "user", "", "the user who delegates (sub); required")
	fs.StringArrayVar(&f.agents, "agent", nil, "agent in the delegation chain, first delegate first (repeatable; at least one)")
	fs.StringArrayVar(&f.audiences, "aud", nil, "audience: resource URL the token is for (repeatable; at least one)")
	fs.StringArrayVar(&f.scopes, "scope", nil, "OAuth scope (repeatable)")
	fs.StringVar(&f.clientID, "client-id", "", "OAuth client id of the first agent")
	fs.DurationVar(&f.ttl, "ttl", time.Hour, "lifetime of the token")
	fs.StringVar(&f.notBefore, "not-before", "", "RFC 3339 time before which the token is not valid (nbf; for tests and demos)")
	fs.StringVar(&f.expiresAt, "expires-at", "", "RFC 3339 expiry instead of --ttl, in the past too (an expired token for tests and demos)")
	f.constraints.register(fs)
	return cmd
}

// runMint builds the root delegation to the first agent and extends it to
// every further agent with authority.Attenuate, so that the chain rules
// (no cycle, depth limit) are the package's.
func runMint(fs *pflag.FlagSet, f mintFlags, now time.Time) (string, error) {
	switch {
	case f.issuer == "":
		return "", errors.New("--issuer is required")
	case f.user == "":
		return "", errors.New("--user is required")
	case len(f.agents) == 0:
		return "", errors.New("at least one --agent is required")
	case len(f.audiences) == 0:
		return "", errors.New("at least one --aud is required")
	}
	nbf, exp, err := f.validity(fs, now)
	if err != nil {
		return "", err
	}
	cons, err := f.constraints.constraints(fs)
	if err != nil {
		return "", err
	}
	ks, err := keydir.Load(f.keys)
	if err != nil {
		return "", err
	}
	key, err := ks.Signer()
	if err != nil {
		return "", err
	}
	c := &authority.Claims{
		Issuer: f.issuer, Subject: f.user, Audience: f.audiences, IssuedAt: now, NotBefore: nbf, ExpiresAt: exp,
		ID: authority.NewID(), ClientID: f.clientID, Scopes: f.scopes, DelegationID: authority.NewID(), Constraints: cons,
		Actor: &authority.Actor{Subject: f.agents[0], ClientID: f.clientID},
	}
	if c.Actor.Subject == "" || c.Actor.Subject == f.user {
		return "", fmt.Errorf("agent %q: an agent must be named and differ from the user", c.Actor.Subject)
	}
	for _, agent := range f.agents[1:] {
		if c, err = authority.Attenuate(c, authority.Request{Actor: agent, ID: authority.NewID(), DelegationID: authority.NewID(), IssuedAt: now,
			Constraints: authority.Unrestricted()}, authority.AttenuateOptions{}); err != nil {
			return "", err
		}
	}
	return authority.Sign(key, c)
}

// validity returns the token's nbf (zero = not set) and exp: --expires-at
// when given (it excludes --ttl), else now + --ttl, which must be positive.
func (f mintFlags) validity(fs *pflag.FlagSet, now time.Time) (nbf, exp time.Time, err error) {
	if f.notBefore != "" {
		if nbf, err = time.Parse(time.RFC3339, f.notBefore); err != nil {
			return nbf, exp, fmt.Errorf("--not-before: want an RFC 3339 time: %w", err)
		}
	}
	switch {
	case f.expiresAt != "" && fs.Changed("ttl"):
		return nbf, exp, errors.New("--expires-at and --ttl exclude each other")
	case f.expiresAt != "":
		if exp, err = time.Parse(time.RFC3339, f.expiresAt); err != nil {
			return nbf, exp, fmt.Errorf("--expires-at: want an RFC 3339 time: %w", err)
		}
	case f.ttl <= 0:
		return nbf, exp, errors.New("--ttl must be positive (for an expired token use --expires-at)")
	default:
		exp = now.Add(f.ttl)
	}
	if !nbf.IsZero() && !exp.After(nbf) {
		return nbf, exp, errors.New("--expires-at must be after --not-before")
	}
	return nbf, exp, nil
}

// joinOr renders a list for humans, or the alternative when it is empty.
func joinOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	return strings.Join(items, " ")
}
