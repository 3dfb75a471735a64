package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/gateway/admin"
)

type killFlags struct {
	req  admin.KillRequest
	api  adminFlags
	json bool
}

func newKillCmd() *cobra.Command {
	var f killFlags
	cmd := &cobra.Command{
		Use:   "kill (SESSION | --session ID | --jti ID | --delegation ID | --agent SUB | --user SUB) --reason TEXT",
		Short: "Stop a live agent session now, on every replica: the running call is cut",
		Long: `Kill through the admin API of a running gateway (docs/KILL.md). The store marks
the sessions killed and revokes what the selector names (for a session: the
token that opened it), every replica learns it at once and cuts the calls in
flight (the agent gets a JSON-RPC error with reason "killed"), closes the
streams and ends the upstream sessions; later requests with the session or the
token are refused. The kill is recorded in the audit log with --actor and
--reason. A session id may start with "-": pass it with --session, or after --.`,
		Example: `  legant kill --session 3q2-Xw… --reason "exfiltration attempt"
  legant kill --reason "exfiltration attempt" -- -Tl8q…
  legant kill --agent planner --reason "prompt injection in ticket 4121"`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				if f.req.Session != "" {
					return fmt.Errorf("name the session once: as an argument or with --session")
				}
				f.req.Session = args[0]
			}
			return runKill(c.Context(), c.OutOrStdout(), f)
		},
	}
	fs := cmd.Flags()
	f.api.register(fs)
	fs.StringVar(&f.req.Session, "session", "", "kill this session (and revoke the token that opened it)")
	fs.StringVar(&f.req.TokenID, "jti", "", "kill every session and call of this token (jti), and revoke it")
	fs.StringVar(&f.req.Delegation, "delegation", "", "kill everything under this delegation (and those derived from it), and revoke it")
	fs.StringVar(&f.req.Agent, "agent", "", "kill everything this agent does, anywhere in an act chain, and revoke it")
	fs.StringVar(&f.req.User, "user", "", "kill everything done on this user's behalf, and revoke the user")
	fs.StringVar(&f.req.Reason, "reason", "", "why (required; recorded in the store and the audit log)")
	fs.StringVar(&f.req.Actor, "actor", defaultActor(), "who asks (recorded in the audit log)")
	fs.BoolVar(&f.json, "json", false, "print the admin API's answer as JSON")
	cmd.MarkFlagRequired("reason")
	cmd.MarkFlagsMutuallyExclusive("session", "jti", "delegation", "agent", "user")
	return cmd
}

func runKill(ctx context.Context, out io.Writer, f killFlags) error {
	c, err := f.api.client()
	if err != nil {
		return err
	}
	res, err := c.Kill(ctx, f.req)
	var e *admin.Error
	if err != nil && (res == nil || !errors.As(err, &e)) {
		return adminError(err)
	}
	if f.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		printKill(out, res)
	}
	if err != nil {
		return fmt.Errorf("the kill is incomplete: %s", strings.Join(res.Incomplete, "; "))
	}
	return nil
}

func printKill(out io.Writer, res *admin.KillResult) {
	fmt.Fprintf(out, "killed %s\n", res.Selector)
	for _, id := range res.Sessions {
		fmt.Fprintf(out, "  session %s marked killed\n", id)
	}
	for _, r := range res.Revocations {
		fmt.Fprintf(out, "  revoked %s %s (version %d): every replica kills what it covers\n", r.Kind, r.Value, r.Version)
	}
	if len(res.Revocations) == 0 {
		fmt.Fprintln(out, "  nothing new to revoke")
	}
	// The answering replica is subscribed to its own store's revocations:
	// it usually ends what the kill covers there during the revocation,
	// before its explicit kill runs (docs/KILL.md). Local is what that
	// explicit kill still found, not all the replica ended.
	switch {
	case res.Local == nil:
	case len(res.Local.Sessions) == 0 && res.Local.Calls == 0:
		fmt.Fprintln(out, "  the answering replica's own kill found nothing still running (the revocation had reached it first)")
	default:
		fmt.Fprintf(out, "  the answering replica's own kill then ended %d more session(s) and cut %d call(s)\n", len(res.Local.Sessions), res.Local.Calls)
	}
	for _, s := range res.Incomplete {
		fmt.Fprintf(out, "  INCOMPLETE: %s\n", s)
	}
}
