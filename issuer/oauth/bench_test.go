package oauth_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// BenchmarkTokenExchange measures one RFC 8693 exchange over HTTP against a
// real store: verify the subject token, read its grant, count the mint,
// attenuate, store the child grant (delegation + grant), sign, audit.
func BenchmarkTokenExchange(b *testing.B) {
	for _, be := range storetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			h := newBenchHarness(b, be)
			bID, bSecret := h.confidentialClient("B")
			h.login(h.browser, testUser, testPassword)
			parent := str(h.codeToken(h.publicClient(), nil), "access_token")
			form := exchangeForm(parent, h.resource, "expenses:read", "")
			b.ResetTimer()
			for b.Loop() {
				if status, out := h.token(cloneValues(form), bID, bSecret); status != http.StatusOK {
					b.Fatalf("= %d %v", status, out)
				}
			}
		})
	}
}

// BenchmarkRefresh measures a refresh_token grant: rotation in one
// transaction, mint count, sign, audit.
func BenchmarkRefresh(b *testing.B) {
	for _, be := range storetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			h := newBenchHarness(b, be)
			id := h.publicClient()
			h.login(h.browser, testUser, testPassword)
			rt := str(h.codeToken(id, nil), "refresh_token")
			b.ResetTimer()
			for b.Loop() {
				status, out := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, id, "")
				if status != http.StatusOK {
					b.Fatalf("= %d %v", status, out)
				}
				rt = str(out, "refresh_token")
			}
		})
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func newBenchHarness(b *testing.B, be storetest.Backend) *harness {
	return newHarness(b, be, func(o *oauth.Options) { o.MintsPerHour = -1 })
}
