package main

import (
	"github.com/spf13/pflag"

	"github.com/openlegant/legant/issuer/oauth"
)

// identityFlags configure how people sign in to the co-resident
// authorization server (docs/AUTHORIZATION.md, "Signing in").
type identityFlags struct {
	ssoConfig           string // YAML of upstream OpenID providers; "" = local accounts only
	require2FAForAdmins bool
}

func (f *identityFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.ssoConfig, "sso-config", "", "YAML file of upstream OpenID providers users may sign in with (secrets by reference)")
	fs.BoolVar(&f.require2FAForAdmins, "require-2fa-for-admins", false, "admins who log in with a password must use (or first enrol) a second factor")
}

// apply loads the SSO configuration into opts; an unreadable or invalid
// file is an error (the server does not start without the sign-in asked for).
func (f identityFlags) apply(opts *oauth.Options) error {
	opts.RequireSecondFactorForAdmins = f.require2FAForAdmins
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
