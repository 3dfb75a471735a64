package main

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// browser is alice's browser: it keeps cookies and does not follow
// redirects by itself, so the demo can narrate each hop.
type browser struct{ client *http.Client }

func newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is one answer the browser got.
type page struct {
	status   int
	location string // a redirect's target, resolved
	body     string
}

func (b *browser) do(req *http.Request) (page, error) {
	resp, err := b.client.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	p := page{status: resp.StatusCode, body: string(body)}
	if loc, lerr := resp.Location(); lerr == nil {
		p.location = loc.String()
	}
	return p, err
}

func (b *browser) get(u string) (page, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return page{}, err
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) (page, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return page{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	csrfInput   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// loginAndConsent is alice at the tracker's authorization server: authorizeURL
// sends her to its login page; she signs in with her tracker account and
// approves the gateway's request for list_issues. It returns where the
// server sends her back (the gateway's callback, with code, state and iss).
func (b *browser) loginAndConsent(authorizeURL, origin, user, password string) (string, error) {
	p, err := b.get(authorizeURL)
	if err != nil || p.status != http.StatusSeeOther {
		return "", fmt.Errorf("authorize: HTTP %d %v", p.status, err)
	}
	login, err := url.Parse(p.location)
	if err != nil {
		return "", err
	}
	lp, err := b.get(p.location)
	m := csrfInput.FindStringSubmatch(lp.body)
	if err != nil || m == nil {
		return "", fmt.Errorf("login page: HTTP %d %v", lp.status, err)
	}
	p, err = b.post(origin+"/login", url.Values{"csrf": {m[1]}, "username": {user}, "password": {password},
		"return_to": {login.Query().Get("return_to")}})
	if err != nil || p.status != http.StatusSeeOther {
		return "", fmt.Errorf("login: HTTP %d %v", p.status, err)
	}
	consent, err := b.get(p.location)
	if err != nil || consent.status != http.StatusOK {
		return "", fmt.Errorf("consent page: HTTP %d %v", consent.status, err)
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(consent.body, -1) {
		form.Add(m[1], html.UnescapeString(m[2]))
	}
	form.Set("tool", "list_issues")
	form.Set("ttl", "8h")
	form.Set("decision", "approve")
	p, err = b.post(origin+"/oauth2/authorize", form)
	if err != nil || p.status != http.StatusFound {
		return "", fmt.Errorf("approve: HTTP %d %v", p.status, err)
	}
	return p.location, nil
}
