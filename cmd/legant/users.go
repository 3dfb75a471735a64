package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
)

// usersFlags are the flags of the users subcommands.
type usersFlags struct {
	store        storeFlags
	user         string
	passwordFile string
	email        string
}

func newUsersCmd() *cobra.Command {
	var f usersFlags
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Manage the local accounts that log in to the authorization server and approve delegations",
		Long: `Local accounts of the co-resident authorization server (docs/AUTHORIZATION.md).
A user logs in on the consent page and approves what an agent may do; the user
name is the "sub" of the delegation tokens. Passwords are hashed with argon2id;
they are read from --password-file or, without it, from the first line of
standard input (never from a flag, which would land in the shell history).`,
		Example: `  printf '%s\n' "$PASSWORD" | legant users add --user alice
  legant users set-password --user alice --password-file ./alice.pw
  legant users list
  legant users grant-admin --user alice
  legant users remove --user alice`,
	}
	f.store.register(cmd.PersistentFlags())
	cmd.AddCommand(
		usersCmd("add", "Add a user", true, addUser, &f),
		usersCmd("set-password", "Replace a user's password (ends their sessions)", true, setPassword, &f),
		usersCmd("remove", "Remove a user (their delegations stay until revoked)", true, removeUser, &f),
		usersCmd("list", "List the users", false, listUsers, &f),
		usersCmd("grant-admin", "Give a user the admin role: every user's delegations (ends their sessions)", true, setAdmin(true), &f),
		usersCmd("revoke-admin", "Take the admin role away (ends their sessions)", true, setAdmin(false), &f),
		usersCmd("set-email", "Set a user's e-mail address (the email claim of ID tokens)", true, setEmail, &f),
	)
	return cmd
}

// usersCmd builds one subcommand that opens the store and runs run.
func usersCmd(use, short string, needsUser bool, run func(context.Context, *store.Store, usersFlags, io.Reader, io.Writer) error, f *usersFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			st, err := f.store.open(c.Context(), c.ErrOrStderr())
			if err != nil {
				return fmt.Errorf("open store: %w", err)
			}
			defer st.Close()
			return run(c.Context(), st, *f, c.InOrStdin(), c.OutOrStdout())
		},
	}
	if needsUser {
		cmd.Flags().StringVar(&f.user, "user", "", "user name (the sub of the tokens the user approves)")
		cmd.MarkFlagRequired("user")
	}
	if use == "add" || use == "set-email" {
		cmd.Flags().StringVar(&f.email, "email", "", "e-mail address (the email claim of ID tokens)")
	}
	if use == "add" || use == "set-password" {
		cmd.Flags().StringVar(&f.passwordFile, "password-file", "", "file whose first line is the password (default: standard input)")
	}
	return cmd
}

func addUser(ctx context.Context, st *store.Store, f usersFlags, in io.Reader, out io.Writer) error {
	if err := checkUserName(f.user); err != nil {
		return err
	}
	hash, err := readPasswordHash(f.passwordFile, in)
	if err != nil {
		return err
	}
	if err := st.CreateUser(ctx, store.User{Name: f.user, PasswordHash: hash, Email: f.email}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("user %s already exists (use set-password)", f.user)
		}
		return err
	}
	fmt.Fprintf(out, "added user %s\n", f.user)
	return nil
}

func setPassword(ctx context.Context, st *store.Store, f usersFlags, in io.Reader, out io.Writer) error {
	u, err := st.GetUser(ctx, f.user)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = readPasswordHash(f.passwordFile, in); err != nil {
		return err
	}
	if err := st.UpdateUser(ctx, *u); err != nil {
		return err
	}
	fmt.Fprintf(out, "password of %s replaced; their sessions ended\n", f.user)
	return nil
}

func removeUser(ctx context.Context, st *store.Store, f usersFlags, _ io.Reader, out io.Writer) error {
	if err := st.DeleteUser(ctx, f.user); err != nil {
		return err
	}
	fmt.Fprintf(out, "removed user %s\n", f.user)
	return nil
}

func listUsers(ctx context.Context, st *store.Store, _ usersFlags, _ io.Reader, out io.Writer) error {
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tCREATED\tDISABLED\tROLE\tEMAIL")
	for _, u := range users {
		role := "user"
		if u.Admin {
			role = "admin"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", u.Name, u.CreatedAt.Format("2006-01-02 15:04"), u.Disabled, role, u.Email)
	}
	return tw.Flush()
}

func setAdmin(admin bool) func(context.Context, *store.Store, usersFlags, io.Reader, io.Writer) error {
	return func(ctx context.Context, st *store.Store, f usersFlags, _ io.Reader, out io.Writer) error {
		if err := st.SetAdmin(ctx, f.user, admin); err != nil {
			return err
		}
		if admin {
			fmt.Fprintf(out, "%s is an admin; their sessions ended\n", f.user)
		} else {
			fmt.Fprintf(out, "%s is no longer an admin; their sessions ended\n", f.user)
		}
		return nil
	}
}

func setEmail(ctx context.Context, st *store.Store, f usersFlags, _ io.Reader, out io.Writer) error {
	u, err := st.GetUser(ctx, f.user)
	if err != nil {
		return err
	}
	u.Email = strings.TrimSpace(f.email)
	if err := st.UpdateUser(ctx, *u); err != nil {
		return err
	}
	fmt.Fprintf(out, "e-mail of %s set to %q\n", f.user, u.Email)
	return nil
}

// checkUserName accepts names that read well in a token's sub and in the
// audit log: 1-64 printable characters without spaces or "|".
func checkUserName(name string) error {
	if name == "" || len(name) > 64 || strings.ContainsAny(name, " \t\r\n|") {
		return fmt.Errorf("user name %q: use 1 to 64 characters without spaces or '|'", name)
	}
	for _, r := range name {
		if r < 0x21 || r == 0x7f {
			return fmt.Errorf("user name %q has a control character", name)
		}
	}
	return nil
}

// readPasswordHash reads the password (first line of the file, or of in)
// and hashes it.
func readPasswordHash(file string, in io.Reader) (string, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		defer f.Close()
		in = f
	}
	line, err := bufio.NewReader(io.LimitReader(in, oauth.MaxPasswordLength+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password given: write it on standard input or use --password-file")
	}
	return oauth.HashPassword(pw)
}
