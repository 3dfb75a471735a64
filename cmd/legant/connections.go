package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// connectionsFlags are the settings of `legant connections`.
type connectionsFlags struct {
	store    storeFlags
	user     string
	upstream string
}

func newConnectionsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connections",
		Short: "List and revoke users' upstream OAuth connections (registry auth kind oauth)",
		Long: `A user's connection to an upstream of auth kind oauth holds the tokens the
upstream's authorization server issued to the gateway for that user, sealed
in the store with the key-encryption secret. list shows them (never a token);
revoke deletes them, so the next call to the upstream asks the user to
connect again.`,
	}
	var lf connectionsFlags
	list := &cobra.Command{
		Use:   "list [--user SUB]",
		Short: "List connections (every user's without --user)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runConnectionsList(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), lf)
		},
	}
	lf.store.register(list.Flags())
	list.Flags().StringVar(&lf.user, "user", "", "only this user's connections")
	var rf connectionsFlags
	revoke := &cobra.Command{
		Use:   "revoke --user SUB [--upstream SLUG]",
		Short: "Delete a user's connection to an upstream (all of the user's without --upstream)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runConnectionsRevoke(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), rf)
		},
	}
	rf.store.register(revoke.Flags())
	revoke.Flags().StringVar(&rf.user, "user", "", "the user (sub) whose connection to delete")
	revoke.Flags().StringVar(&rf.upstream, "upstream", "", "the upstream slug; empty means every upstream")
	_ = revoke.MarkFlagRequired("user")
	cmd.AddCommand(list, revoke)
	return cmd
}

func runConnectionsList(ctx context.Context, out, errOut io.Writer, f connectionsFlags) error {
	st, err := f.store.open(ctx, errOut)
	if err != nil {
		return err
	}
	defer st.Close()
	cs, err := st.ListConnections(ctx, f.user)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		fmt.Fprintln(out, "no connections")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tUPSTREAM\tISSUER\tSCOPE\tEXPIRES\tUPDATED")
	for _, c := range cs {
		exp := "-"
		if !c.ExpiresAt.IsZero() {
			exp = c.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.User, c.Upstream, c.Issuer, c.Scope, exp, c.Updated.Format(time.RFC3339))
	}
	return tw.Flush()
}

func runConnectionsRevoke(ctx context.Context, out, errOut io.Writer, f connectionsFlags) error {
	if f.user == "" {
		return errors.New("--user is required")
	}
	st, err := f.store.open(ctx, errOut)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.DeleteConnection(ctx, f.user, f.upstream)
	if err != nil {
		return err
	}
	what := "every upstream"
	if f.upstream != "" {
		what = f.upstream
	}
	fmt.Fprintf(out, "deleted %d connection(s) of %s to %s\n", n, f.user, what)
	return nil
}
