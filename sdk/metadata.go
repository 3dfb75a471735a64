package sdk

import (
	"net/http"
	"net/url"
)

// ResourceMetadataURL returns where this resource's RFC 9728 metadata is
// expected: the audience with "/.well-known/oauth-protected-resource"
// inserted between its host and path (RFC 9728 §3.1), or "" when the audience
// is not an absolute URL. Serve ProtectedResourceHandler there.
func (v *Verifier) ResourceMetadataURL() string {
	u, err := url.Parse(v.audience)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	md, err := wellKnown(v.audience, "oauth-protected-resource")
	if err != nil {
		return ""
	}
	return md
}

// protectedResource is RFC 9728 metadata, the fields the gateway also serves.
type protectedResource struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
}

// ProtectedResourceHandler serves this resource's RFC 9728 metadata (the
// audience as "resource", the issuer as its authorization server, and
// scopes), for clients that follow the WWW-Authenticate challenge.
func (v *Verifier) ProtectedResourceHandler(scopes ...string) http.Handler {
	md := protectedResource{
		Resource:               v.audience,
		AuthorizationServers:   []string{v.issuer},
		BearerMethodsSupported: []string{"header"},
		ScopesSupported:        scopes,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "max-age=300")
		writeJSON(w, http.StatusOK, md)
	})
}
