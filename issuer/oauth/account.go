package oauth

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/openlegant/legant/issuer/store"
)

// accountPath is the page where a user reviews and revokes delegations.
const accountPath = "/account/delegations"

// delegationRow is one delegation on the account page; Depth indents the
// delegations agents derived from it (token exchange) under it.
type delegationRow struct {
	ID       string
	Depth    int
	Agents   string // "planner → executor"
	Client   string
	Upstream string
	Scopes   string
	Limits   string
	Created  time.Time
	Expires  time.Time
	Status   string // active, expired, revoked
	Active   bool
}

type delegationsView struct {
	CSRF string
	Rows []delegationRow
}

// delegations lists the user's delegations as a forest: each grant the user
// approved, with the chains of sub-agents derived from it below.
func (s *Server) delegations(w http.ResponseWriter, r *http.Request) {
	l, err := s.currentLogin(r)
	if err != nil {
		s.renderError(w, err)
		return
	}
	if l == nil {
		http.Redirect(w, r, loginURL(r), http.StatusSeeOther)
		return
	}
	grants, err := s.opts.Store.ListGrants(r.Context(), l.User)
	if err != nil {
		s.renderError(w, err)
		return
	}
	v := delegationsView{CSRF: l.CSRF, Rows: s.delegationRows(r.Context(), grants)}
	s.render(w, http.StatusOK, "delegations", page{Title: "Your delegations", User: l.User, CSRF: l.CSRF, Body: v})
}

// delegationRows orders grants depth first, children under their parent.
// A grant whose parent is not among them (offline, or another user's) is a
// root.
func (s *Server) delegationRows(ctx context.Context, grants []store.Grant) []delegationRow {
	byID := map[string]bool{}
	children := map[string][]store.Grant{}
	for _, g := range grants {
		byID[g.DelegationID] = true
	}
	var roots []store.Grant
	for _, g := range grants {
		if g.ParentID != "" && byID[g.ParentID] {
			children[g.ParentID] = append(children[g.ParentID], g)
		} else {
			roots = append(roots, g)
		}
	}
	now := s.now()
	names := map[string]string{}
	var rows []delegationRow
	var walk func(g store.Grant, depth int)
	walk = func(g store.Grant, depth int) {
		rows = append(rows, s.delegationRow(ctx, g, depth, now, names))
		for _, c := range children[g.DelegationID] {
			walk(c, depth+1)
		}
	}
	for _, g := range roots {
		walk(g, 0)
	}
	return rows
}

func (s *Server) delegationRow(ctx context.Context, g store.Grant, depth int, now time.Time, names map[string]string) delegationRow {
	row := delegationRow{ID: g.DelegationID, Depth: depth, Agents: strings.Join(g.Agents, " → "),
		Client: s.clientName(ctx, g.ClientID, names), Upstream: s.slugOf([]string{g.Resource}),
		Scopes: strings.Join(g.Scopes, " "), Limits: describe(g.Constraints), Created: g.CreatedAt, Expires: g.ExpiresAt}
	switch {
	case g.RevokedVersion != 0:
		row.Status = "revoked"
	case !now.Before(g.ExpiresAt):
		row.Status = "expired"
	default:
		row.Status, row.Active = "active", true
	}
	if row.Upstream == "" {
		row.Upstream = g.Resource
	}
	return row
}

// clientName is a registered client's name, or the host of a metadata
// document client (no network on this page).
func (s *Server) clientName(ctx context.Context, id string, cache map[string]string) string {
	if n, ok := cache[id]; ok {
		return n
	}
	n := id
	if strings.HasPrefix(id, "https://") {
		n = (&client{ID: id, Document: true}).host()
	} else if c, err := s.opts.Store.GetOAuthClient(ctx, id); err == nil && c.Name != "" {
		n = c.Name
	}
	cache[id] = n
	return n
}

// revokeDelegation revokes one of the user's delegations and everything
// derived from it.
func (s *Server) revokeDelegation(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	r.ParseForm()
	l, err := s.currentLogin(r)
	if err != nil {
		s.renderError(w, err)
		return
	}
	if l == nil || !checkCSRF(r, l.CSRF) {
		s.renderError(w, &Error{Code: CodeAccessDenied, Description: "log in again to revoke a delegation", Status: http.StatusForbidden})
		return
	}
	id := r.PostForm.Get("id")
	g, err := s.opts.Store.GetGrant(r.Context(), id)
	if err != nil || g.User != l.User {
		s.renderError(w, &Error{Code: CodeInvalidRequest, Description: "no such delegation", Status: http.StatusNotFound})
		return
	}
	if err := s.revokeGrant(r.Context(), id, "revoked by user "+l.User); err != nil {
		s.renderError(w, err)
		return
	}
	http.Redirect(w, r, accountPath, http.StatusSeeOther)
}
