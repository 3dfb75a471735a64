package oauth

import (
	"net/http"
	"time"

	"github.com/openlegant/legant/authority/audit"
)

// connectionsPath is the account page where a user reviews and removes the
// upstream connections (registry auth kind oauth) the gateway holds for
// them: the tokens an upstream's authorization server issued for the user.
const connectionsPath = "/account/connections"

// connectionRow is one connection on the page: never a token.
type connectionRow struct {
	Upstream string
	Issuer   string
	Scope    string
	Created  time.Time
	Expires  time.Time // the access token's; zero: unknown
}

type connectionsView struct {
	CSRF string
	Rows []connectionRow
}

// connections lists the logged-in user's upstream connections.
func (s *Server) connections(w http.ResponseWriter, r *http.Request) {
	l := s.accountLogin(w, r)
	if l == nil {
		return
	}
	cs, err := s.opts.Store.ListConnections(r.Context(), l.User)
	if err != nil {
		s.renderError(w, err)
		return
	}
	v := connectionsView{CSRF: l.CSRF}
	for _, c := range cs {
		v.Rows = append(v.Rows, connectionRow{Upstream: c.Upstream, Issuer: c.Issuer, Scope: c.Scope, Created: c.Created, Expires: c.ExpiresAt})
	}
	s.render(w, http.StatusOK, "connections", page{Title: "Your upstream connections", User: l.User, CSRF: l.CSRF, Body: v})
}

// disconnect deletes one of the logged-in user's connections: the next call
// to that upstream asks the user to connect again. Only the user's own
// connection can be named (the user comes from the session, never the form).
func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	r.ParseForm()
	l, err := s.currentLogin(r)
	if err != nil || l == nil || !checkCSRF(r, l.CSRF) || l.mustEnrol() {
		s.renderError(w, &Error{Code: CodeAccessDenied, Description: "log in again to change your connections", Status: http.StatusForbidden})
		return
	}
	up := r.PostForm.Get("upstream")
	if up == "" {
		s.renderError(w, &Error{Code: CodeInvalidRequest, Description: "no such connection", Status: http.StatusNotFound})
		return
	}
	n, err := s.opts.Store.DeleteConnection(r.Context(), l.User, up)
	if err != nil {
		s.renderError(w, err)
		return
	}
	if n == 0 {
		s.renderError(w, &Error{Code: CodeInvalidRequest, Description: "no such connection", Status: http.StatusNotFound})
		return
	}
	if err := s.record(r.Context(), audit.Event{Kind: audit.KindRevoke, User: l.User, Upstream: up, Decision: "disconnect",
		Reason: "upstream connection removed by the user on the account page"}); err != nil {
		s.log.Error("disconnect not audited", "user", l.User, "upstream", up, "err", err)
	}
	http.Redirect(w, r, connectionsPath, http.StatusSeeOther)
}
