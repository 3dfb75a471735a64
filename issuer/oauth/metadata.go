package oauth

import (
	"net/http"
	"slices"

	"github.com/openlegant/legant/authority/dpop"
)

// Grant types this server implements.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	// GrantClientCredentials is an agent acting for itself: its token
	// names no user and no act, so it is not a delegation (the gateway
	// refuses it).
	GrantClientCredentials = "client_credentials"
)

// Token type identifiers of RFC 8693 §3.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// ScopeOfflineAccess is accepted in requests (MCP clients add it when the
// server lists it) and asks for nothing: refresh tokens go to every client
// registered for the refresh_token grant.
const ScopeOfflineAccess = "offline_access"

// Client authentication methods at the token endpoint.
const (
	AuthNone              = "none"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
)

// Metadata is the RFC 8414 authorization server metadata.
type Metadata struct {
	Issuer                                 string   `json:"issuer"`
	AuthorizationEndpoint                  string   `json:"authorization_endpoint"`
	TokenEndpoint                          string   `json:"token_endpoint"`
	RegistrationEndpoint                   string   `json:"registration_endpoint"`
	RevocationEndpoint                     string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                  string   `json:"introspection_endpoint"`
	JWKSURI                                string   `json:"jwks_uri"`
	ScopesSupported                        []string `json:"scopes_supported"`
	ResponseTypesSupported                 []string `json:"response_types_supported"`
	ResponseModesSupported                 []string `json:"response_modes_supported"`
	GrantTypesSupported                    []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported      []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods       []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported          []string `json:"code_challenge_methods_supported"`
	ClientIDMetadataDocumentSupported      bool     `json:"client_id_metadata_document_supported"`
	AuthorizationResponseIssParameter      bool     `json:"authorization_response_iss_parameter_supported"`
	AuthorizationDetailsTypesSupported     []string `json:"authorization_details_types_supported"`
	// DPoPSigningAlgValuesSupported are the algorithms of DPoP proofs the
	// token endpoint accepts (RFC 9449 §5.1).
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
}

// JWKSPath is where the process serves the issuer's JWKS (cmd/legant mounts
// it beside the gateway).
const JWKSPath = "/.well-known/jwks.json"

// Metadata returns the server's metadata; scopes come from the registry in
// force.
func (s *Server) Metadata() Metadata {
	scopes := append(allScopes(s.opts.Registry()), ScopeOfflineAccess)
	scopes = append(scopes, oidcScopes...)
	slices.Sort(scopes)
	return Metadata{
		Issuer:                                 s.opts.Issuer,
		AuthorizationEndpoint:                  s.endpoint("/oauth2/authorize"),
		TokenEndpoint:                          s.endpoint("/oauth2/token"),
		RegistrationEndpoint:                   s.endpoint("/oauth2/register"),
		RevocationEndpoint:                     s.endpoint("/oauth2/revoke"),
		IntrospectionEndpoint:                  s.endpoint("/oauth2/introspect"),
		JWKSURI:                                s.endpoint(JWKSPath),
		ScopesSupported:                        scopes,
		ResponseTypesSupported:                 []string{"code"},
		ResponseModesSupported:                 []string{"query"},
		GrantTypesSupported:                    []string{GrantAuthorizationCode, GrantRefreshToken, GrantTokenExchange, GrantClientCredentials},
		TokenEndpointAuthMethodsSupported:      []string{AuthClientSecretBasic, AuthClientSecretPost, AuthNone},
		RevocationEndpointAuthMethodsSupported: []string{AuthClientSecretBasic, AuthClientSecretPost, AuthNone},
		IntrospectionEndpointAuthMethods:       []string{AuthClientSecretBasic, AuthClientSecretPost},
		CodeChallengeMethodsSupported:          []string{"S256"},
		ClientIDMetadataDocumentSupported:      true,
		AuthorizationResponseIssParameter:      true,
		AuthorizationDetailsTypesSupported:     []string{"legant_delegation"},
		DPoPSigningAlgValuesSupported:          slices.Clone(dpop.Algorithms),
	}
}

// serveMetadata answers /.well-known/oauth-authorization-server (RFC 8414)
// and /.well-known/openid-configuration (OpenID Connect Discovery).
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	var md any = s.Metadata()
	if r.URL.Path == "/.well-known/openid-configuration" {
		md = s.OpenIDConfiguration()
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	writeJSONBody(w, md)
}
