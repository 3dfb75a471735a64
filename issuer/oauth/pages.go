package oauth

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"
	"time"
)

//go:embed templates/*.html templates/style.css templates/webauthn.js
var templateFiles embed.FS

// pageTemplates are the server-rendered pages, each parsed with the layout.
var pageTemplates = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"join": strings.Join,
		"initial": func(s string) string {
			for _, r := range s {
				return strings.ToUpper(string(r))
			}
			return "?"
		},
		"date": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
	}
	out := map[string]*template.Template{}
	for _, p := range []string{"login", "consent", "delegations", "connections", "error", "signin", "mfa", "security"} {
		out[p] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(templateFiles, "templates/layout.html", "templates/"+p+".html"))
	}
	return out
}()

var (
	styleCSS, _   = templateFiles.ReadFile("templates/style.css")
	webauthnJS, _ = templateFiles.ReadFile("templates/webauthn.js")
)

// serveScript serves the passkey ceremonies' script (the only script of
// the pages: no inline script, CSP script-src 'self').
func serveScript(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(webauthnJS)
}

// page is what the layout reads; Body is the page's own view.
type page struct {
	Title string
	User  string // "" when nobody is logged in
	CSRF  string // the session's CSRF token (logout form)
	Body  any
}

// setPageHeaders protects the pages: no framing (a consent page in a frame
// is clickjacking), no inline script, nothing cached, no referrer leaking
// the authorization request. form-action is left out: browsers apply it to
// the redirect back to the client after the consent form.
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src https: data:; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// render writes a page. A template failure (a bug) answers 500 without detail.
func (s *Server) render(w http.ResponseWriter, status int, name string, p page) {
	var buf bytes.Buffer
	if err := pageTemplates[name].Execute(&buf, p); err != nil {
		s.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorView is the error page: the request cannot go back to the client.
type errorView struct {
	Code        string
	Description string
}

// renderError shows err on a page (used when the redirect URI is not
// trusted, so the error cannot be sent to the client).
func (s *Server) renderError(w http.ResponseWriter, err error) {
	e := asOAuth(s.log, err)
	s.render(w, e.status(), "error", page{Title: "Request refused", Body: errorView{Code: e.Code, Description: e.Description}})
}

func serveStyle(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(styleCSS)
}
