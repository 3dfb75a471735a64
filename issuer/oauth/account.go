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
	CSRF     string
	Rows     []delegationRow
	Consents []consentRow
	Admin    bool // the user is an admin: may list everyone's (?all=1)
	All      bool // listing everyone's delegations
}

// consentRow is a remembered consent on the account page.
type consentRow struct {
	ClientID, Client, Resource, Scopes, Limits, TTL string
	Remembered                                      time.Time
}

// delegations lists the user's delegations as a forest: each grant the user
// approved, with the chains of sub-agents derived from it below.
func (s *Server) delegations(w http.ResponseWriter, r *http.Request) {
	l := s.accountLogin(w, r)
	if l == nil {
		return
	}
	u, err := s.opts.Store.GetUser(r.Context(), l.User)
	if err != nil {
		s.renderError(w, err)
		return
	}
	v := delegationsView{CSRF: l.CSRF, Admin: u.Admin, All: u.Admin && r.URL.Query().Get("all") == "1"}
	var grants []store.Grant
	if v.All {
		grants, err = s.opts.Store.ListAllGrants(r.Context(), adminListLimit)
	} else {
		grants, err = s.opts.Store.ListGrants(r.Context(), l.User)
	}
	if err != nil {
		s.renderError(w, err)
		return
	}
	v.Rows = s.delegationRows(r.Context(), grants)
	if v.Consents, err = s.consentRows(r.Context(), l.User); err != nil {
		s.renderError(w, err)
		return
	}
	s.render(w, http.StatusOK, "delegations", page{Title: "Your delegations", User: l.User, CSRF: l.CSRF, Body: v})
}

// adminListLimit bounds the admin's list of everyone's delegations.
const adminListLimit = 500

func (s *Server) consentRows(ctx context.Context, user string) ([]consentRow, error) {
	cs, err := s.opts.Store.ListConsents(ctx, user)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	var out []consentRow
	for _, c := range cs {
		row := consentRow{ClientID: c.ClientID, Client: s.clientName(ctx, c.ClientID, names), Resource: c.Resource,
			Scopes: c.Scopes, Remembered: c.CreatedAt, TTL: c.TTL.String()}
		if c.Resource == "" {
			row.Limits, row.TTL = "sign-in only", "—"
		} else {
			row.Limits = strings.Join(c.Tools, ", ") + "; " + describe(c.Constraints)
		}
		out = append(out, row)
	}
	return out, nil
}

// forgetConsent deletes one of the user's remembered consents: the next
// request of that client shows the consent page again.
func (s *Server) forgetConsent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	r.ParseForm()
	l, err := s.currentLogin(r)
	if err != nil || l == nil || !checkCSRF(r, l.CSRF) {
		s.renderError(w, &Error{Code: CodeAccessDenied, Description: "log in again to change your consents", Status: http.StatusForbidden})
		return
	}
	f := r.PostForm
	if err := s.opts.Store.ForgetConsent(r.Context(), l.User, f.Get("client_id"), f.Get("resource"), f.Get("scopes")); err != nil {
		s.renderError(w, err)
		return
	}
	http.Redirect(w, r, accountPath, http.StatusSeeOther)
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
	if err == nil && g.User != l.User {
		// Only an admin revokes another user's delegation.
		u, uerr := s.opts.Store.GetUser(r.Context(), l.User)
		if uerr != nil || !u.Admin || l.mustEnrol() {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		s.renderError(w, &Error{Code: CodeInvalidRequest, Description: "no such delegation", Status: http.StatusNotFound})
		return
	}
	if err := s.revokeGrant(r.Context(), id, "revoked by user "+l.User); err != nil {
		s.renderError(w, err)
		return
	}
	http.Redirect(w, r, accountPath, http.StatusSeeOther)
}

// accountLogin is the login of a request for an account page: nil, with the
// answer written (the error, the login page, or the second-factor enrolment
// a user must finish first), when the page must not be shown.
func (s *Server) accountLogin(w http.ResponseWriter, r *http.Request) *login {
	l, err := s.currentLogin(r)
	switch {
	case err != nil:
		s.renderError(w, err)
	case l == nil:
		http.Redirect(w, r, loginURL(r), http.StatusSeeOther)
	case l.mustEnrol():
		http.Redirect(w, r, securityPath, http.StatusSeeOther)
	default:
		return l
	}
	return nil
}
