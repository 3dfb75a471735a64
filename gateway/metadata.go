package gateway

// RFC 9728 protected resource metadata: one document per upstream, named in
// the WWW-Authenticate challenge of every 401 (auth.go).

import (
	"encoding/json"
	"net/http"
	"strings"
)

// protectedResource is RFC 9728 metadata.
type protectedResource struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

func (g *Gateway) serveMetadata(w http.ResponseWriter, r *http.Request, slug string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	up, ok := g.upstream(slug)
	if !ok {
		http.NotFound(w, r)
		return
	}
	servers := g.opts.AuthorizationServers
	if servers == nil {
		servers = []string{g.opts.Issuer}
	}
	md := protectedResource{
		Resource:               up.InboundAudience,
		AuthorizationServers:   servers,
		BearerMethodsSupported: []string{"header"},
		ScopesSupported:        up.Scopes(),
		ResourceName:           up.Slug,
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	json.NewEncoder(w).Encode(md)
}

// metadataURL is the URL of the RFC 9728 metadata of slug.
func (g *Gateway) metadataURL(r *http.Request, slug string) string {
	return g.publicURL(r) + metadataPrefix + slug
}

// publicURL is the gateway's external base URL: Options.PublicURL, else
// derived from r.
func (g *Gateway) publicURL(r *http.Request) string {
	if g.opts.PublicURL != "" {
		return strings.TrimSuffix(g.opts.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
