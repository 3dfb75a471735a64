package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openlegant/legant/authority/audit"
)

// AuditFilter selects events; zero fields do not filter.
type AuditFilter struct {
	User     string
	Agent    string // events whose agent chain contains it
	Tool     string
	Decision string
	Kind     audit.Kind
	Since    time.Time // events at or after
	AfterSeq int64     // events with a greater sequence number
	Limit    int       // 0 = no limit
}

// Query returns matching events in sequence order.
func (l *AuditLog) Query(ctx context.Context, f AuditFilter) ([]audit.Event, error) {
	if _, err := l.settleRead(ctx); err != nil {
		return nil, err
	}
	where := []string{"seq > $1"}
	args := []any{f.AfterSeq}
	for _, c := range []struct{ col, v string }{
		{"user_sub", f.User}, {"tool", f.Tool}, {"decision", f.Decision}, {"kind", string(f.Kind)},
	} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	if !f.Since.IsZero() {
		args = append(args, f.Since.UnixNano())
		where = append(where, fmt.Sprintf("at_ns >= $%d", len(args)))
	}
	rows, err := l.s.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE `+strings.Join(where, " AND ")+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query audit: %w", err)
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() && (f.Limit <= 0 || len(out) < f.Limit) {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		if f.Agent == "" || slices.Contains(e.Agents, f.Agent) {
			out = append(out, *e)
		}
	}
	return out, rows.Err()
}

// Tail returns the last n events, oldest first.
func (l *AuditLog) Tail(ctx context.Context, n int) ([]audit.Event, error) {
	if _, err := l.settleRead(ctx); err != nil {
		return nil, err
	}
	var head int64
	if err := l.s.db.QueryRowContext(ctx, `SELECT seq FROM audit_head WHERE id = 1`).Scan(&head); err != nil {
		return nil, fmt.Errorf("store: read audit head: %w", err)
	}
	return l.Query(ctx, AuditFilter{AfterSeq: max(0, head-int64(n))})
}
