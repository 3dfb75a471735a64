package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/gateway/admin"
)

type watchFlags struct {
	admin admin.WatchQuery
	conn  adminFlags
	kinds []string
	json  bool
	color string
	count int
}

func newWatchCmd() *cobra.Command {
	var f watchFlags
	cmd := &cobra.Command{
		Use:   "watch [--kind allow,deny,kill] [--user U] [--agent A] [--json]",
		Short: "Stream the gateway's decisions live (every replica's), as the console shows them",
		Long: `Stream audit events — allow, deny, kill, edge refusals, revocations, sessions —
from a running gateway's admin API (GET /console/events, Server-Sent Events), as
they are recorded. With a shared PostgreSQL store, one replica streams what every
replica decided. A dropped connection is resumed where it stopped (Last-Event-ID).`,
		Example: `  legant watch
  legant watch --kind deny,kill --agent planner
  legant watch --json --backlog 100 | jq .reason`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runWatch(c.Context(), c.OutOrStdout(), f)
		},
	}
	fs := cmd.Flags()
	f.conn.register(fs)
	fs.StringSliceVar(&f.kinds, "kind", nil, "only these kinds (allow, deny, kill, edge_401, edge_403, revoke, session_start, session_end, …)")
	fs.StringVar(&f.admin.Filter.User, "user", "", "only events of this user (sub)")
	fs.StringVar(&f.admin.Filter.Agent, "agent", "", "only events whose act chain contains this agent")
	fs.StringVar(&f.admin.Filter.Upstream, "upstream", "", "only events of this upstream (slug)")
	fs.StringVar(&f.admin.Filter.Tool, "tool", "", "only events of this tool")
	fs.StringVar(&f.admin.Filter.Decision, "decision", "", "only events with this decision")
	fs.StringVar(&f.admin.Filter.Session, "session", "", "only events of this gateway session")
	fs.IntVar(&f.admin.Backlog, "backlog", 0, "start with up to this many past events (default: only new ones)")
	fs.Int64Var(&f.admin.After, "after", 0, "start after this sequence number (overrides --backlog)")
	fs.BoolVar(&f.json, "json", false, "one JSON object per line (as `legant audit tail --json`), for piping")
	fs.StringVar(&f.color, "color", "auto", "colour the kinds: auto (on a terminal, unless NO_COLOR is set), always or never")
	fs.IntVar(&f.count, "count", 0, "exit after this many events (0: run until interrupted)")
	return cmd
}

// errWatchDone ends the stream once --count events were printed.
var errWatchDone = errors.New("enough events")

func runWatch(ctx context.Context, out io.Writer, f watchFlags) error {
	c, err := f.conn.client()
	if err != nil {
		return err
	}
	for _, k := range f.kinds {
		f.admin.Filter.Kinds = append(f.admin.Filter.Kinds, audit.Kind(strings.TrimSpace(k)))
	}
	colour, err := useColour(f.color, out)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	n := 0
	err = c.Watch(ctx, f.admin, func(e audit.Event) error {
		if f.json {
			if err := enc.Encode(e); err != nil {
				return err
			}
		} else if _, err := fmt.Fprintln(out, watchLine(e, colour)); err != nil {
			return err
		}
		if n++; f.count > 0 && n >= f.count {
			return errWatchDone
		}
		return nil
	})
	if errors.Is(err, errWatchDone) {
		return nil
	}
	return adminError(err)
}

// ANSI colours of the kinds.
var kindColour = map[audit.Kind]string{
	audit.KindAllow: "\x1b[32m", audit.KindDeny: "\x1b[31m", audit.KindKill: "\x1b[1;35m", audit.KindRevoke: "\x1b[35m",
	audit.KindEdge401: "\x1b[33m", audit.KindEdge403: "\x1b[33m",
}

// watchLine is one event as a terminal line.
func watchLine(e audit.Event, colour bool) string {
	kind := fmt.Sprintf("%-13s", e.Kind)
	if c, ok := kindColour[e.Kind]; ok && colour {
		kind = c + kind + "\x1b[0m"
	}
	what := e.Tool
	if what == "" {
		what = e.Method
	}
	line := fmt.Sprintf("#%-6d %s %s user=%s agents=%s %s/%s", e.Seq, e.Time.UTC().Format("15:04:05.000"), kind,
		dashIfEmpty(e.User), dashIfEmpty(strings.Join(e.Agents, ">")), dashIfEmpty(e.Upstream), dashIfEmpty(what))
	if e.Value != "" {
		line += " value=" + e.Value
	}
	if e.Reason != "" {
		line += fmt.Sprintf(" %q", e.Reason)
	}
	if e.SessionID != "" {
		line += " session=" + e.SessionID
	}
	return line
}

func useColour(mode string, out io.Writer) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		f, ok := out.(*os.File)
		if !ok || os.Getenv("NO_COLOR") != "" {
			return false, nil
		}
		st, err := f.Stat()
		return err == nil && st.Mode()&os.ModeCharDevice != 0, nil
	}
	return false, fmt.Errorf("--color must be auto, always or never, not %q", mode)
}
