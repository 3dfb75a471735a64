package oauth_test

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// documentServer serves client metadata documents over TLS on loopback.
type documentServer struct {
	srv     *httptest.Server
	fetches atomic.Int64
}

func newDocumentServer(t *testing.T) *documentServer {
	d := &documentServer{}
	d.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.fetches.Add(1)
		id := d.srv.URL + r.URL.Path
		switch r.URL.Path {
		case "/client.json":
			writeDoc(w, map[string]any{"client_id": id, "client_name": "Docs Agent", "client_uri": "https://docs.example",
				"redirect_uris": []string{loopbackCB}, "token_endpoint_auth_method": "none"})
		case "/mismatch.json":
			writeDoc(w, map[string]any{"client_id": "https://other.example/client.json", "redirect_uris": []string{loopbackCB}})
		case "/secret.json":
			writeDoc(w, map[string]any{"client_id": id, "client_secret": "x", "redirect_uris": []string{loopbackCB}})
		case "/bad-redirect.json":
			writeDoc(w, map[string]any{"client_id": id, "redirect_uris": []string{"http://evil.example/cb"}})
		case "/big.json":
			writeDoc(w, map[string]any{"client_id": id, "redirect_uris": []string{loopbackCB}, "pad": strings.Repeat("x", 70<<10)})
		case "/text.json":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "{}")
		case "/redirect.json":
			http.Redirect(w, r, "/client.json", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func writeDoc(w http.ResponseWriter, doc map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

func (d *documentServer) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(d.srv.Certificate())
	return p
}

func TestMetadataDocumentClient(t *testing.T) {
	b := storetest.Backends(t)[0]
	docs := newDocumentServer(t)
	h := newHarness(t, b, func(o *oauth.Options) {
		o.MetadataDocuments = oauth.MetadataDocumentOptions{AllowPrivateAddresses: true, RootCAs: docs.pool()}
	})
	h.login(h.browser, testUser, testPassword)
	id := docs.srv.URL + "/client.json"
	_, challenge := pkce()
	resp, body := h.get(h.browser, h.url("/oauth2/authorize?"+h.authParams(id, challenge).Encode()))
	host := strings.TrimPrefix(docs.srv.URL, "https://")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Docs Agent") || !strings.Contains(body, "Verified") || !strings.Contains(body, host) {
		t.Fatalf("consent = %d\n%s", resp.StatusCode, body)
	}
	out := h.codeToken(id, nil)
	c, err := h.verify(str(out, "access_token"))
	if err != nil || c.ClientID != id || c.Chain().String() != "agent:"+id {
		t.Fatalf("claims = %+v, %v", c, err)
	}
	if n := docs.fetches.Load(); n != 1 {
		t.Errorf("document fetched %d times, want 1 (cached)", n)
	}

	refused := []struct{ path, mention string }{
		{"/mismatch.json", "differs"},
		{"/secret.json", "client_secret"},
		{"/bad-redirect.json", "loopback"},
		{"/big.json", "larger than"},
		{"/text.json", "application/json"},
		{"/redirect.json", "HTTP 302"},
		{"/missing.json", "HTTP 404"},
	}
	for _, r := range refused {
		t.Run(r.path, func(t *testing.T) {
			resp, body := h.get(h.browser, h.url("/oauth2/authorize?"+h.authParams(docs.srv.URL+r.path, challenge).Encode()))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, r.mention) {
				t.Fatalf("= %d, want an error page naming %q:\n%s", resp.StatusCode, r.mention, body)
			}
		})
	}
}

func TestMetadataDocumentSSRF(t *testing.T) {
	b := storetest.Backends(t)[0]
	docs := newDocumentServer(t)
	// Production settings: only public addresses.
	h := newHarness(t, b, func(o *oauth.Options) { o.MetadataDocuments.RootCAs = docs.pool() })
	h.login(h.browser, testUser, testPassword)
	_, challenge := pkce()
	_, p, _ := net.SplitHostPort(docs.srv.Listener.Addr().String())
	port := ":" + p
	for _, id := range []string{
		docs.srv.URL + "/client.json",                        // 127.0.0.1
		"https://localhost" + port + "/client.json",          // resolves to loopback
		"https://169.254.169.254/latest/meta-data/client",    // cloud metadata
		"https://[::1]" + port + "/client.json",              // IPv6 loopback
		"https://10.0.0.1/client.json",                       // private
		"https://[::ffff:127.0.0.1]" + port + "/client.json", // IPv4-mapped loopback
	} {
		t.Run(id, func(t *testing.T) {
			resp, body := h.get(h.browser, h.url("/oauth2/authorize?"+h.authParams(id, challenge).Encode()))
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not public") {
				t.Fatalf("= %d\n%s", resp.StatusCode, body)
			}
		})
	}
	if n := docs.fetches.Load(); n != 0 {
		t.Fatalf("the document server was reached %d times", n)
	}
	for _, id := range []string{"https://docs.example/", "https://docs.example/a/../b", "https://u:p@docs.example/c"} {
		resp, body := h.get(h.browser, h.url("/oauth2/authorize?"+url.Values{"client_id": {id}}.Encode()))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "client_id URL") {
			t.Errorf("%s = %d %s", id, resp.StatusCode, body)
		}
	}
}
