package admin

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/openlegant/legant/authority/audit"
)

// The console: the admin API's web UI for a security team (docs/CONSOLE.md),
// served on the admin listener under /console. Pages are rendered on the
// server (html/template); a little plain JavaScript, served as a file of its
// own, keeps the decision stream and the session table live over SSE. The
// Content-Security-Policy admits no inline script or style and nothing from
// another origin; every state-changing request is a POST carrying the
// session's CSRF token.

//go:embed consoleui/templates/*.html consoleui/static/*
var consoleFS embed.FS

// consoleCSP is the Content-Security-Policy of every console answer.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// consolePages are the templates, each parsed with the layout.
var consolePages = []string{"login", "decisions", "event", "sessions", "graph", "audit"}

type console struct {
	s     *Server
	mux   *http.ServeMux
	pages map[string]*template.Template
	// key signs session cookies and CSRF tokens; derived from the admin
	// token, so every replica sharing the token accepts the same session.
	key []byte
}

func newConsole(s *Server) (*console, error) {
	c := &console{s: s, mux: http.NewServeMux(), pages: map[string]*template.Template{}, key: consoleKey(s.opts.Token)}
	funcs := template.FuncMap{"join": strings.Join, "time": fmtTime, "short": short, "dict": nodeArgsOf}
	for _, p := range consolePages {
		t, err := template.New(p).Funcs(funcs).ParseFS(consoleFS, "consoleui/templates/layout.html", "consoleui/templates/"+p+".html")
		if err != nil {
			return nil, err
		}
		c.pages[p] = t
	}
	static, err := fs.Sub(consoleFS, "consoleui/static")
	if err != nil {
		return nil, err
	}
	c.mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /console/login", c.serveLoginForm)
	c.mux.HandleFunc("POST /console/login", c.serveLogin)
	c.mux.Handle("POST /console/logout", c.authed(c.serveLogout))
	c.mux.Handle("GET /console", http.RedirectHandler("/console/decisions", http.StatusSeeOther))
	c.mux.Handle("GET /console/{$}", http.RedirectHandler("/console/decisions", http.StatusSeeOther))
	c.mux.Handle("GET /console/decisions", c.authed(c.serveDecisions))
	c.mux.Handle("GET /console/events", c.authedOrBearer(c.serveEvents))
	c.mux.Handle("GET /console/events/{seq}", c.authed(c.serveEvent))
	c.mux.Handle("GET /console/sessions", c.authed(c.serveSessions))
	c.mux.Handle("GET /console/sessions/rows", c.authed(c.serveSessionRows))
	c.mux.Handle("POST /console/kill", c.authed(c.serveKill))
	c.mux.Handle("GET /console/graph", c.authed(c.serveGraph))
	c.mux.Handle("POST /console/revoke", c.authed(c.serveRevoke))
	c.mux.Handle("GET /console/audit", c.authed(c.serveAudit))
	c.mux.Handle("POST /console/audit/verify", c.authed(c.serveVerify))
	c.mux.Handle("POST /console/audit/anchor", c.authed(c.serveAnchor))
	c.mux.Handle("GET /console/audit/export", c.authed(c.serveExport))
	return c, nil
}

// ServeHTTP sets the security headers of every console answer, then routes.
func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/console/static/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux.ServeHTTP(w, r)
}

// page is what every template receives.
type page struct {
	Title  string
	Nav    string // the current view, for aria-current
	Actor  string // who is logged in ("" on the login page)
	CSRF   string
	Notice string
	Error  string
	Data   any
}

// render executes the named page into a buffer first, so a template error
// answers 500 instead of half a page.
func (c *console) render(w http.ResponseWriter, status int, name string, p page) {
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		c.s.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "the page could not be rendered; see the server log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// short abbreviates an identifier or hash for a table cell (the full value
// is in the title attribute or the detail page).
func short(s string) string {
	if len(s) <= 14 {
		return s
	}
	return s[:12] + "…"
}

// eventView is an audit event as the console and the stream show it: the
// raw arguments are never sent (their hash is).
func eventView(e audit.Event) audit.Event {
	e.Args = nil
	return e
}
