package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/store"
)

// followInterval is how often `audit tail --follow` looks for new events.
const followInterval = 500 * time.Millisecond

func newAuditCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify, anchor, read and prune the hash-chained audit log",
	}
	sf.register(cmd.PersistentFlags())
	cmd.AddCommand(newAuditVerifyCmd(&sf), newAuditAnchorCmd(&sf), newAuditTailCmd(&sf), newAuditQueryCmd(&sf), newAuditPruneCmd(&sf))
	return cmd
}

func newAuditVerifyCmd(sf *storeFlags) *cobra.Command {
	var anchorFile string
	cmd := &cobra.Command{
		Use:   "verify [--anchor FILE]",
		Short: "Check every link of the chain; exits non-zero naming the first bad sequence number",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runAuditVerify(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), sf, anchorFile)
		},
	}
	cmd.Flags().StringVar(&anchorFile, "anchor", "", "signed anchor from `legant audit anchor` (catches a truncated tail)")
	return cmd
}

func runAuditVerify(ctx context.Context, out, errOut io.Writer, sf *storeFlags, anchorFile string) error {
	st, err := sf.open(ctx, errOut)
	if err != nil {
		return err
	}
	defer st.Close()
	var anchor *audit.Anchor
	if anchorFile != "" {
		tok, err := os.ReadFile(anchorFile)
		if err != nil {
			return err
		}
		if anchor, err = st.Audit().ParseAnchor(ctx, strings.TrimSpace(string(tok))); err != nil {
			return fmt.Errorf("anchor %s: %w", anchorFile, err)
		}
	}
	rep, err := st.Audit().Verify(ctx, anchor)
	if rep != nil {
		fmt.Fprintf(out, "verified %d events (seq %d..%d)", rep.Events, rep.PrunedThrough+1, rep.Head.Seq)
		if rep.PrunedThrough > 0 {
			fmt.Fprintf(out, ", pruned through %d (signed prune record checked)", rep.PrunedThrough)
		}
		if anchor != nil && rep.OK() {
			fmt.Fprintf(out, ", anchor at seq %d matches", anchor.Seq)
		}
		fmt.Fprintln(out)
		if rep.OK() {
			fmt.Fprintf(out, "chain intact; head %d %s\n", rep.Head.Seq, rep.Head.Hash)
		}
		if rep.Unapplied > 0 {
			fmt.Fprintf(out, "not verified: %d more event(s) that the process owning the audit journal (a running gateway) acknowledged and has not yet moved into the chain\n", rep.Unapplied)
		}
	}
	return err
}

func newAuditAnchorCmd(sf *storeFlags) *cobra.Command {
	var outFile string
	cmd := &cobra.Command{
		Use:   "anchor --out FILE",
		Short: "Sign the chain's current head and write it to FILE (keep it outside the database)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			st, err := sf.open(c.Context(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			defer st.Close()
			tok, a, err := st.Audit().Anchor(c.Context())
			if err != nil {
				return err
			}
			if err := os.WriteFile(outFile, []byte(tok+"\n"), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "anchored seq %d %s in %s\n", a.Seq, a.Hash, outFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&outFile, "out", "", "file to write the signed anchor to")
	cmd.MarkFlagRequired("out")
	return cmd
}

type auditPrintFlags struct {
	json bool
}

func newAuditTailCmd(sf *storeFlags) *cobra.Command {
	var n int
	var follow bool
	var pf auditPrintFlags
	cmd := &cobra.Command{
		Use:   "tail [-n N] [--follow]",
		Short: "Print the last events; with --follow, keep printing new ones",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt)
			defer stop()
			st, err := sf.open(ctx, c.ErrOrStderr())
			if err != nil {
				return err
			}
			defer st.Close()
			evs, err := st.Audit().Tail(ctx, n)
			if err != nil {
				return err
			}
			last := printEvents(c.OutOrStdout(), evs, pf, 0)
			if !follow {
				return nil
			}
			return followEvents(ctx, c.OutOrStdout(), st.Audit(), pf, last)
		},
	}
	cmd.Flags().IntVarP(&n, "lines", "n", 20, "number of events")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	cmd.Flags().BoolVar(&pf.json, "json", false, "one JSON object per line")
	return cmd
}

// followEvents polls for events after seq last until ctx ends.
func followEvents(ctx context.Context, out io.Writer, l *store.AuditLog, pf auditPrintFlags, last int64) error {
	t := time.NewTicker(followInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		evs, err := l.Query(ctx, store.AuditFilter{AfterSeq: last})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		last = printEvents(out, evs, pf, last)
	}
}

func newAuditQueryCmd(sf *storeFlags) *cobra.Command {
	var f store.AuditFilter
	var since, kind string
	var pf auditPrintFlags
	cmd := &cobra.Command{
		Use:   "query [--user U] [--agent A] [--tool T] [--decision D] [--since 1h|RFC3339]",
		Short: "Print the events that match every given filter",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var err error
			if f.Since, err = parseSince(since, time.Now()); err != nil {
				return err
			}
			f.Kind = audit.Kind(kind)
			st, err := sf.open(c.Context(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			defer st.Close()
			evs, err := st.Audit().Query(c.Context(), f)
			if err != nil {
				return err
			}
			printEvents(c.OutOrStdout(), evs, pf, 0)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.User, "user", "", "user (token sub)")
	fs.StringVar(&f.Agent, "agent", "", "agent anywhere in the act chain")
	fs.StringVar(&f.Tool, "tool", "", "tool name")
	fs.StringVar(&f.Decision, "decision", "", "decision (allow, deny, …)")
	fs.StringVar(&kind, "kind", "", "event kind (allow, deny, edge_401, kill, revoke, …)")
	fs.StringVar(&since, "since", "", "only events at or after: a duration back from now (90m, 24h) or an RFC 3339 time")
	fs.IntVar(&f.Limit, "limit", 0, "at most this many events (0 = all)")
	fs.BoolVar(&pf.json, "json", false, "one JSON object per line")
	return cmd
}

// parseSince reads "" (no bound), a duration back from now, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a duration (24h) or an RFC 3339 time", s)
	}
	return t, nil
}

func newAuditPruneCmd(sf *storeFlags) *cobra.Command {
	var through int64
	var olderThan time.Duration
	cmd := &cobra.Command{
		Use:   "prune (--through SEQ | --older-than DURATION)",
		Short: "Delete old events, keeping a signed prune record so the rest still verifies",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			st, err := sf.open(c.Context(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			defer st.Close()
			var cp audit.Checkpoint
			if through > 0 {
				cp, err = st.Audit().Prune(c.Context(), through)
			} else {
				cp, err = st.Audit().PruneBefore(c.Context(), time.Now().Add(-olderThan))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "pruned through seq %d (hash %s)\n", cp.Seq, cp.Hash)
			return nil
		},
	}
	cmd.Flags().Int64Var(&through, "through", 0, "delete events up to and including this sequence number")
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "delete events older than this (e.g. 2160h)")
	cmd.MarkFlagsOneRequired("through", "older-than")
	cmd.MarkFlagsMutuallyExclusive("through", "older-than")
	return cmd
}

// printEvents prints events and returns the highest seq printed (or last).
func printEvents(out io.Writer, evs []audit.Event, pf auditPrintFlags, last int64) int64 {
	enc := json.NewEncoder(out)
	for _, e := range evs {
		if pf.json {
			enc.Encode(e)
		} else {
			fmt.Fprintf(out, "%d  %s  %-13s %-6s user=%s agents=%s tool=%s/%s jti=%s %q  %.12s\n", e.Seq,
				e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), e.Kind, e.Decision, dashIfEmpty(e.User), dashIfEmpty(strings.Join(e.Agents, ">")),
				dashIfEmpty(e.Upstream), dashIfEmpty(e.Tool), dashIfEmpty(e.TokenID), e.Reason, e.Hash)
		}
		last = max(last, e.Seq)
	}
	return last
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
