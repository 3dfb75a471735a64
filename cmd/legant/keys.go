package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/issuer/keydir"
)

func newKeysCmd() *cobra.Command {
	var dir, alg string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the issuer's signing keys in a key directory",
		Long: `A key directory holds keys.json (kid, alg, created, retire_at, current) and one
PEM file per private key (mode 0600, directory 0700). The current key signs;
after a rotation the previous key keeps verifying for 24 hours.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", keydir.DefaultDir, "key directory")
	addAlg := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVar(&alg, "alg", string(keydir.Ed25519), "key algorithm: ed25519 or rsa")
		return c
	}
	cmd.AddCommand(
		addAlg(&cobra.Command{
			Use: "init", Short: "Create the key directory and its first key", Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error { return runKeys(c.OutOrStdout(), dir, alg, keydir.Init) },
		}),
		addAlg(&cobra.Command{
			Use: "rotate", Short: "Add a new signing key; the previous one verifies until it retires", Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error { return runKeys(c.OutOrStdout(), dir, alg, keydir.Rotate) },
		}),
		&cobra.Command{
			Use: "prune", Short: "Remove the keys whose retire time has passed", Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				pruned, err := keydir.Prune(dir, nil)
				for _, e := range pruned {
					fmt.Fprintf(c.OutOrStdout(), "removed retired key %s\n", e.KID)
				}
				return err
			},
		},
		&cobra.Command{
			Use: "list", Short: "List the keys", Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error { return listKeys(c.OutOrStdout(), dir) },
		},
	)
	return cmd
}

// runKeys runs Init or Rotate and reports the new key.
func runKeys(out io.Writer, dir, alg string, op func(string, keydir.Alg, *keydir.Options) (keydir.Entry, error)) error {
	a, err := keydir.ParseAlg(alg)
	if err != nil {
		return err
	}
	e, err := op(dir, a, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "new signing key %s (%s) in %s\n", e.KID, e.Alg, dir)
	return nil
}

func listKeys(out io.Writer, dir string) error {
	entries, err := keydir.List(dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tRETIRES\tCURRENT")
	for _, e := range entries {
		retires := "-"
		if !e.RetireAt.IsZero() {
			retires = e.RetireAt.UTC().Format(time.RFC3339)
		}
		current := ""
		if e.Current {
			current = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.KID, e.Alg, e.Created.UTC().Format(time.RFC3339), retires, current)
	}
	return tw.Flush()
}
