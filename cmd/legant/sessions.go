package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/gateway/admin"
)

type sessionsFlags struct {
	admin adminFlags
	query admin.SessionQuery
	json  bool
}

func newSessionsCmd() *cobra.Command {
	var f sessionsFlags
	cmd := &cobra.Command{
		Use:   "sessions [ID] [--user U] [--agent A] [--upstream SLUG] [--state live|killed|closed]",
		Short: "List the gateway's agent sessions (every replica's), or show one",
		Long: `List agent sessions through the admin API of a running gateway. With a shared
PostgreSQL store, any replica lists every replica's sessions. Stop one with
` + "`legant kill`" + `. A session id may start with "-": pass it after --.`,
		Example: `  legant sessions --state live
  legant sessions --agent planner --json
  legant sessions -- 3q2-Xw…   # one session`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runSessions(c.Context(), c.OutOrStdout(), f, args)
		},
	}
	fs := cmd.Flags()
	f.admin.register(fs)
	fs.StringVar(&f.query.User, "user", "", "only sessions of this user (sub)")
	fs.StringVar(&f.query.Agent, "agent", "", "only sessions whose act chain contains this agent")
	fs.StringVar(&f.query.Upstream, "upstream", "", "only sessions of this upstream (slug)")
	fs.StringVar(&f.query.State, "state", "", "only sessions in this state: live, killed or closed")
	fs.StringVar(&f.query.TokenID, "jti", "", "only sessions opened with this token (jti)")
	fs.IntVar(&f.query.Limit, "limit", 0, fmt.Sprintf("at most this many, most recently active first (default %d)", admin.DefaultListLimit))
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	return cmd
}

func runSessions(ctx context.Context, out io.Writer, f sessionsFlags, args []string) error {
	c, err := f.admin.client()
	if err != nil {
		return err
	}
	var list []admin.Session
	if len(args) == 1 {
		se, err := c.Session(ctx, args[0])
		if err != nil {
			return adminError(err)
		}
		list = []admin.Session{*se}
	} else if list, err = c.Sessions(ctx, f.query); err != nil {
		return adminError(err)
	}
	if f.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if len(args) == 1 {
			return enc.Encode(list[0])
		}
		return enc.Encode(admin.SessionList{Sessions: list})
	}
	return printSessions(out, list, time.Now())
}

// printSessions writes a table of sessions.
func printSessions(out io.Writer, list []admin.Session, now time.Time) error {
	if len(list) == 0 {
		fmt.Fprintln(out, "no sessions")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tSTATE\tUSER\tAGENTS\tUPSTREAM\tSTARTED\tLAST ACTIVE\tCALLS OK/DENIED\tSPENT\tEND REASON")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s ago\t%d/%d\t%s\t%s\n", s.ID, s.State, s.User,
			strings.Join(s.Agents, "→"), s.Upstream, s.Started.Local().Format(time.DateTime),
			now.Sub(s.LastActivity).Round(time.Second), s.CallsAllowed, s.CallsDenied, s.AmountSpent, s.EndReason)
	}
	return tw.Flush()
}
