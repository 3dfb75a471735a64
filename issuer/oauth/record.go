package oauth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
)

// Audit event kinds the authorization server adds to audit.KindMint and
// audit.KindRevoke.
const (
	KindConsent audit.Kind = "consent" // a user approved a delegation
	KindLogin   audit.Kind = "login"   // a sign-in through an upstream provider, or with a second factor
)

// recordTimeout bounds an audit write that outlives its request.
const recordTimeout = 10 * time.Second

// record appends ev to the audit log and waits for it to be durable. It is
// not cut short by the request's end; an error means the event may not have
// been written, and the caller fails closed.
func (s *Server) record(ctx context.Context, ev audit.Event) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := s.opts.Store.Audit().Append(ctx, ev); err != nil {
		return fmt.Errorf("oauth: audit %s: %w", ev.Kind, err)
	}
	return nil
}

// describe summarizes constraints for people and the audit log:
// "tools submit_expense; max 200 USD per call; categories travel".
func describe(c authority.Constraints) string {
	var parts []string
	set := func(name string, s authority.Set) {
		if !s.Unrestricted() {
			parts = append(parts, name+" "+orNone(strings.Join(s.Items(), ", ")))
		}
	}
	set("tools", c.Tools)
	if c.MaxAmount != nil {
		parts = append(parts, "max "+c.MaxAmount.String()+" per call")
	}
	if c.Budget != nil {
		parts = append(parts, "budget "+c.Budget.String())
	}
	if c.MaxCalls != nil {
		parts = append(parts, fmt.Sprintf("at most %d calls", *c.MaxCalls))
	}
	set("categories", c.Categories)
	set("resources", c.Resources)
	if c.Window != nil {
		parts = append(parts, "window "+c.Window.String())
	}
	if len(parts) == 0 {
		return "unrestricted"
	}
	return strings.Join(parts, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
