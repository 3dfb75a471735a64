package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/openlegant/legant/issuer/oauth"
)

// identityFlags configure how people sign in to the co-resident
// authorization server (docs/AUTHORIZATION.md, "Signing in").
type identityFlags struct {
	ssoConfig           string // YAML of upstream OpenID providers; "" = local accounts only
	require2FAForAdmins bool
	// trustSubjectIssuers are other gateways whose tokens token exchange
	// takes as subject_token (trust.go); none by default.
	trustSubjectIssuers []string
}

func (f *identityFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.ssoConfig, "sso-config", "", "YAML file of upstream OpenID providers users may sign in with (secrets by reference)")
	fs.BoolVar(&f.require2FAForAdmins, "require-2fa-for-admins", false, "admins who log in with a password must use (or first enrol) a second factor")
	fs.StringArrayVar(&f.trustSubjectIssuers, "trust-subject-issuer", nil,
		"trust another Legant gateway's tokens as token exchange subject tokens (its registry auth kind exchange): 'issuer=URL;jwks=URL|FILE;clients=ID[,ID…]' (repeatable)")
}

// apply loads the SSO configuration into opts; an unreadable or invalid
// file is an error (the server does not start without the sign-in asked for).
func (f identityFlags) apply(ctx context.Context, opts *oauth.Options) error {
	opts.RequireSecondFactorForAdmins = f.require2FAForAdmins
	for _, v := range f.trustSubjectIssuers {
		t, err := parseTrustedIssuer(ctx, v)
		if err != nil {
			return err
		}
		opts.TrustedSubjectIssuers = append(opts.TrustedSubjectIssuers, t)
	}
	if f.ssoConfig == "" {
		return nil
	}
	cfg, err := oauth.LoadSSOConfig(f.ssoConfig)
	if err != nil {
		return err
	}
	opts.SSO, err = oauth.NewSSO(cfg)
	return err
}
