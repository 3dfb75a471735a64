package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/openlegant/legant/issuer/keydir"
	"github.com/openlegant/legant/issuer/store"
)

// storeFlags are the flags every command that opens the store shares.
type storeFlags struct {
	databaseURL   string
	dataDir       string
	keySecretFile string
	issuer        string
	// noAuditJournal turns the SQLite audit journal off (gateway
	// --audit-journal=false).
	noAuditJournal bool
	// logger receives the store's own log (the gateway's logger); nil:
	// warnings and errors as text on the command's stderr.
	logger *slog.Logger
}

// Environment variables the store flags fall back to.
const (
	envDatabaseURL = "LEGANT_DATABASE_URL"
	envKeySecret   = "LEGANT_KEY_SECRET"
)

// secretFileName is the generated demo secret, under the data directory.
const secretFileName = "secret"

// register registers the store flags, with --issuer naming the store's
// signer (issuerFlagAnchor).
func (f *storeFlags) register(fs *pflag.FlagSet) { f.registerAs(fs, issuerFlagAnchor) }

// registerAs registers the store flags with --issuer meaning issuer.
func (f *storeFlags) registerAs(fs *pflag.FlagSet, issuer issuerUse) {
	fs.StringVar(&f.databaseURL, "database-url", os.Getenv(envDatabaseURL),
		"PostgreSQL URL (postgres://…); empty = the embedded SQLite file in --data-dir (env "+envDatabaseURL+")")
	fs.StringVar(&f.dataDir, "data-dir", store.DefaultDataDir, "directory of the embedded SQLite database and the generated secret")
	fs.StringVar(&f.keySecretFile, "key-secret-file", "",
		"file holding the secret that encrypts signing keys at rest (else env "+envKeySecret+")")
	registerIssuer(fs, &f.issuer, issuer)
}

// options resolves the flags into store options. The key secret comes from
// --key-secret-file, then LEGANT_KEY_SECRET; with neither, the embedded
// SQLite store (a demo) uses DATA_DIR/secret, generated (0600) on first use
// with a notice on errOut. A PostgreSQL store never gets a generated secret:
// without one, commands that need signing keys fail and say so.
func (f *storeFlags) options(errOut io.Writer) (store.Options, error) {
	opts := store.Options{DatabaseURL: f.databaseURL, DataDir: f.dataDir, Issuer: f.issuer, Logger: f.logger}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if f.noAuditJournal {
		opts.AuditJournalSize = -1
	}
	switch {
	case f.keySecretFile != "":
		b, err := os.ReadFile(f.keySecretFile)
		if err != nil {
			return opts, fmt.Errorf("read key secret: %w", err)
		}
		opts.KeyEncryptionSecret = bytes.TrimSpace(b)
	case os.Getenv(envKeySecret) != "":
		opts.KeyEncryptionSecret = []byte(os.Getenv(envKeySecret))
	case f.databaseURL == "":
		secret, err := demoSecret(f.dataDir, errOut)
		if err != nil {
			return opts, err
		}
		opts.KeyEncryptionSecret = secret
	}
	return opts, nil
}

// demoSecret reads DATA_DIR/secret, generating it when missing
// (keydir.EnsureSecretFile) with a notice on errOut.
func demoSecret(dataDir string, errOut io.Writer) ([]byte, error) {
	path := filepath.Join(dataDir, secretFileName)
	secret, created, err := keydir.EnsureSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("key secret: %w", err)
	}
	if created {
		fmt.Fprintf(errOut, "legant: generated a key-encryption secret in %s (mode 0600); keep it: the signing keys cannot be decrypted without it\n", path)
	}
	return secret, nil
}

// open opens the store the flags name.
func (f *storeFlags) open(ctx context.Context, errOut io.Writer) (*store.Store, error) {
	opts, err := f.options(errOut)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, opts)
}

func newMigrateCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply or list the store's schema migrations",
	}
	sf.register(cmd.PersistentFlags())
	cmd.AddCommand(
		&cobra.Command{
			Use: "up", Short: "Apply every pending migration", Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error { return runMigrateUp(c.Context(), c.OutOrStdout(), sf) },
		},
		&cobra.Command{
			Use: "status", Short: "List migrations and whether each is applied", Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error { return runMigrateStatus(c.Context(), c.OutOrStdout(), sf) },
		},
	)
	return cmd
}

func runMigrateUp(ctx context.Context, out io.Writer, sf storeFlags) error {
	applied, err := store.Migrate(ctx, store.Options{DatabaseURL: sf.databaseURL, DataDir: sf.dataDir})
	for _, m := range applied {
		fmt.Fprintf(out, "applied %04d_%s\n", m.Version, m.Name)
	}
	if err == nil && len(applied) == 0 {
		fmt.Fprintln(out, "schema is up to date")
	}
	return err
}

func runMigrateStatus(ctx context.Context, out io.Writer, sf storeFlags) error {
	states, err := store.MigrationStatus(ctx, store.Options{DatabaseURL: sf.databaseURL, DataDir: sf.dataDir})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
	for _, s := range states {
		state, at := "pending", "-"
		if s.Applied {
			state, at = "applied", time.Unix(0, s.AppliedAt).UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%04d\t%s\t%s\t%s\n", s.Version, s.Name, state, at)
	}
	return tw.Flush()
}
