package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/keydir"
)

type attenuateFlags struct {
	keys, parent, agent, clientID, issuer string
	audiences, scopes                     []string
	ttl                                   time.Duration
	constraints                           constraintFlags
}

func newAttenuateCmd() *cobra.Command {
	var f attenuateFlags
	cmd := &cobra.Command{
		Use:   "attenuate",
		Short: "Derive a narrower child token for the next agent in the chain",
		Long: `Verify a parent token against the key directory, then mint a child token in
which --agent acts for the parent's last agent. The child never holds more
than the parent: flags left out inherit the parent's limits, and asking for
more than the parent has (a scope, an audience, a tool, a larger amount, a
longer window) is refused with an error and a non-zero exit status.`,
		Example: `  legant mint ... | legant attenuate --keys .legant/keys --parent - \
    --agent executor --tool submit_expense --max-amount 200 | legant show -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			parent, err := readToken(f.parent, cmd.InOrStdin())
			if err != nil {
				return err
			}
			tok, err := runAttenuate(cmd.Flags(), f, parent, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.keys, "keys", keydir.DefaultDir, "key directory")
	fs.StringVar(&f.parent, "parent", "", `parent token, or "-" to read it from stdin; required`)
	fs.StringVar(&f.agent, "agent", "", "the agent the child token is for; required")
	fs.StringVar(&f.clientID, "client-id", "", "OAuth client id of the new agent")
	registerIssuer(fs, &f.issuer, issuerFlagAttenuate)
	fs.StringArrayVar(&f.audiences, "aud", nil, "narrow the audiences (repeatable; each must be one of the parent's)")
	fs.StringArrayVar(&f.scopes, "scope", nil, "narrow the scopes (repeatable; each must be one of the parent's)")
	fs.DurationVar(&f.ttl, "ttl", 0, "lifetime of the child (0 = until the parent expires; never later)")
	f.constraints.register(fs)
	return cmd
}

func runAttenuate(fs *pflag.FlagSet, f attenuateFlags, parentToken string, now time.Time) (string, error) {
	switch {
	case parentToken == "":
		return "", errors.New("--parent is required")
	case f.agent == "":
		return "", errors.New("--agent is required")
	case f.ttl < 0:
		return "", errors.New("--ttl must not be negative")
	}
	cons, err := f.constraints.constraints(fs)
	if err != nil {
		return "", err
	}
	ks, err := keydir.Load(f.keys)
	if err != nil {
		return "", err
	}
	parent, err := authority.Inspect(parentToken, ks, authority.VerifyOptions{Issuer: f.issuer}, now)
	if err != nil {
		return "", fmt.Errorf("parent token: %w", err)
	}
	req := authority.Request{Actor: f.agent, ClientID: f.clientID, Audience: f.audiences, Scopes: f.scopes,
		Constraints: cons, ID: authority.NewID(), DelegationID: authority.NewID(), IssuedAt: now}
	if f.ttl > 0 {
		req.ExpiresAt = now.Add(f.ttl)
	}
	child, err := authority.Attenuate(parent, req, authority.AttenuateOptions{Strict: true})
	var ae *authority.AttenuationError
	if errors.As(err, &ae) {
		return "", fmt.Errorf("refusing to attenuate: %s", ae.Msg)
	}
	if err != nil {
		return "", err
	}
	key, err := ks.Signer()
	if err != nil {
		return "", err
	}
	return authority.Sign(key, child)
}
