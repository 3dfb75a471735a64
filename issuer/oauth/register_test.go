package oauth_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store/storetest"
)

func TestRegister(t *testing.T) {
	b := storetest.Backends(t)[0]
	h := newHarness(t, b, nil)
	tests := []struct {
		name   string
		md     map[string]any
		status int
		code   string // error code, or "" for success
	}{
		{"public loopback", map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"}, "token_endpoint_auth_method": "none"}, 201, ""},
		{"public localhost", map[string]any{"redirect_uris": []string{"http://localhost:3000/cb"}, "token_endpoint_auth_method": "none"}, 201, ""},
		{"ipv6 loopback", map[string]any{"redirect_uris": []string{"http://[::1]:8080/cb"}, "token_endpoint_auth_method": "none"}, 201, ""},
		{"confidential https", map[string]any{"redirect_uris": []string{"https://app.example/cb"}}, 201, ""},
		{"cursor", map[string]any{"redirect_uris": []string{"cursor://anysphere.cursor-mcp/oauth/callback",
			"https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback"}, "token_endpoint_auth_method": "none"}, 201, ""},
		{"http not loopback", map[string]any{"redirect_uris": []string{"http://app.example/cb"}}, 400, "invalid_redirect_uri"},
		{"javascript", map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}, 400, "invalid_redirect_uri"},
		{"other private scheme", map[string]any{"redirect_uris": []string{"myapp://cb"}}, 400, "invalid_redirect_uri"},
		{"fragment", map[string]any{"redirect_uris": []string{"https://app.example/cb#x"}}, 400, "invalid_redirect_uri"},
		{"userinfo", map[string]any{"redirect_uris": []string{"https://u:p@app.example/cb"}}, 400, "invalid_redirect_uri"},
		{"relative", map[string]any{"redirect_uris": []string{"/cb"}}, 400, "invalid_redirect_uri"},
		{"no redirect", map[string]any{"client_name": "x"}, 400, "invalid_redirect_uri"},
		{"implicit", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "response_types": []string{"token"}}, 400, "invalid_client_metadata"},
		{"client_credentials", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "grant_types": []string{"client_credentials"}}, 400, "invalid_client_metadata"},
		{"private_key_jwt", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "private_key_jwt"}, 400, "invalid_client_metadata"},
		{"public exchange", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "none",
			"grant_types": []string{"authorization_code", oauth.GrantTokenExchange}}, 400, "invalid_client_metadata"},
		{"http logo", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "logo_uri": "http://a.example/l.png"}, 400, "invalid_client_metadata"},
		{"not json", nil, 400, "invalid_client_metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := h.registerRaw(tt.md, "")
			if tt.md == nil {
				status, body = h.registerRaw(map[string]any{"redirect_uris": "not a list"}, "")
			}
			var out map[string]any
			json.Unmarshal([]byte(body), &out)
			if status != tt.status || str(out, "error") != tt.code {
				t.Fatalf("= %d %s, want %d %q", status, body, tt.status, tt.code)
			}
			if tt.code != "" {
				return
			}
			if !strings.HasPrefix(str(out, "client_id"), "lc_") || out["client_id_issued_at"] == nil {
				t.Errorf("response = %s", body)
			}
			confidential := tt.md["token_endpoint_auth_method"] != "none"
			if (str(out, "client_secret") != "") != confidential {
				t.Errorf("client_secret present = %v, want %v", str(out, "client_secret") != "", confidential)
			}
		})
	}
}

func TestRegisterWithInitialAccessToken(t *testing.T) {
	b := storetest.Backends(t)[0]
	h := newHarness(t, b, func(o *oauth.Options) { o.RegistrationToken = "let-me-in" })
	md := map[string]any{"redirect_uris": []string{"https://a.example/cb"}}
	if status, _ := h.registerRaw(md, ""); status != http.StatusUnauthorized {
		t.Fatalf("without token = %d", status)
	}
	if status, _ := h.registerRaw(md, "wrong"); status != http.StatusUnauthorized {
		t.Fatalf("wrong token = %d", status)
	}
	if status, body := h.registerRaw(md, "let-me-in"); status != http.StatusCreated {
		t.Fatalf("with token = %d %s", status, body)
	}
}
