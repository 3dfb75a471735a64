package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
)

type revokeFlags struct {
	store      storeFlags
	jti        string
	delegation string
	agent      string
	user       string
	reason     string
	expires    string
}

func newRevokeCmd() *cobra.Command {
	var f revokeFlags
	cmd := &cobra.Command{
		Use:   "revoke (--jti ID | --delegation ID | --agent SUB | --user SUB) [--reason TEXT]",
		Short: "Revoke a token, a delegation (and its sub-tree), an agent or a user",
		Long: `Revoke records the revocation in the store. Every gateway sharing the store
sees it at once (PostgreSQL LISTEN/NOTIFY; the embedded SQLite store is polled),
live sessions it covers are killed, and the signed feed at /.well-known/revoked
lists it for resource servers.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runRevoke(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), f)
		},
	}
	fs := cmd.Flags()
	f.store.register(fs)
	fs.StringVar(&f.jti, "jti", "", "token id (jti) to revoke")
	fs.StringVar(&f.delegation, "delegation", "", "delegation id to revoke, with every delegation derived from it")
	fs.StringVar(&f.agent, "agent", "", "agent to revoke: every token whose act chain contains it")
	fs.StringVar(&f.user, "user", "", "user (sub) to revoke: every token issued for them")
	fs.StringVar(&f.reason, "reason", "", "why (recorded in the audit log)")
	fs.StringVar(&f.expires, "expires", "", "RFC 3339 time after which the revocation may leave the feed (a token's exp)")
	cmd.MarkFlagsOneRequired("jti", "delegation", "agent", "user")
	cmd.MarkFlagsMutuallyExclusive("jti", "delegation", "agent", "user")
	return cmd
}

func (f revokeFlags) request() (store.RevokeRequest, error) {
	req := store.RevokeRequest{Reason: f.reason}
	switch {
	case f.jti != "":
		req.Kind, req.Value = revfeed.KindToken, f.jti
	case f.delegation != "":
		req.Kind, req.Value = revfeed.KindDelegation, f.delegation
	case f.agent != "":
		req.Kind, req.Value = revfeed.KindAgent, f.agent
	default:
		req.Kind, req.Value = revfeed.KindUser, f.user
	}
	if f.expires != "" {
		t, err := time.Parse(time.RFC3339, f.expires)
		if err != nil {
			return req, fmt.Errorf("--expires: %w", err)
		}
		req.ExpiresAt = t
	}
	return req, nil
}

func runRevoke(ctx context.Context, out, errOut io.Writer, f revokeFlags) error {
	req, err := f.request()
	if err != nil {
		return err
	}
	st, err := f.store.open(ctx, errOut)
	if err != nil {
		return err
	}
	defer st.Close()
	added, err := st.Revoke(ctx, req)
	if err != nil {
		return err
	}
	if len(added) == 0 {
		fmt.Fprintf(out, "%s %s was already revoked\n", req.Kind, req.Value)
		return nil
	}
	for _, r := range added {
		fmt.Fprintf(out, "revoked %s %s (version %d)\n", r.Kind, r.Value, r.Version)
	}
	return nil
}
