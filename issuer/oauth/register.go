package oauth

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store"
)

// maxRegistrationBytes bounds a registration request body.
const maxRegistrationBytes = 64 << 10

// ClientMetadata is the RFC 7591 §2 client metadata this server reads and
// returns. Other fields a client sends are ignored, as §2 requires.
type ClientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	Contacts                []string `json:"contacts,omitempty"`
	TOSURI                  string   `json:"tos_uri,omitempty"`
	PolicyURI               string   `json:"policy_uri,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
	ApplicationType         string   `json:"application_type,omitempty"`
}

// registrationResponse is RFC 7591 §3.2.1.
type registrationResponse struct {
	ClientMetadata
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
}

// register is RFC 7591 dynamic client registration.
func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkRegistrationToken(r); err != nil {
		return err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return oauthErr(CodeInvalidClientMetadata, "the registration request must be application/json")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRegistrationBytes+1))
	if err != nil {
		return oauthErr(CodeInvalidRequest, "could not read the request body")
	}
	if len(body) > maxRegistrationBytes {
		return oauthErr(CodeInvalidClientMetadata, "the registration request is too large")
	}
	var md ClientMetadata
	if err := json.Unmarshal(body, &md); err != nil {
		return oauthErr(CodeInvalidClientMetadata, "the registration request is not valid client metadata JSON")
	}
	if err := s.normalizeMetadata(&md); err != nil {
		return err
	}
	resp := registrationResponse{ClientMetadata: md, ClientID: "lc_" + authority.NewID(), ClientIDIssuedAt: s.now().Unix()}
	sc := store.OAuthClient{ID: resp.ClientID, Name: md.ClientName, URI: md.ClientURI, LogoURI: md.LogoURI,
		RedirectURIs: md.RedirectURIs, GrantTypes: md.GrantTypes, AuthMethod: md.TokenEndpointAuthMethod, Scope: md.Scope}
	if md.TokenEndpointAuthMethod != AuthNone {
		resp.ClientSecret = authority.NewSecret()
		zero := int64(0) // never expires
		resp.ClientSecretExpiresAt = &zero
		sc.SecretHash = hashSecret(resp.ClientSecret)
	}
	if sc.Metadata, err = json.Marshal(md); err != nil {
		return err
	}
	if err := s.opts.Store.CreateOAuthClient(r.Context(), sc); err != nil {
		return err
	}
	s.log.Info("oauth client registered", "client_id", resp.ClientID, "name", md.ClientName, "auth", md.TokenEndpointAuthMethod)
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// checkRegistrationToken requires the initial access token when one is set.
func (s *Server) checkRegistrationToken(r *http.Request) error {
	if s.opts.RegistrationToken == "" {
		return nil
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || !equalSecret(strings.TrimSpace(tok), s.opts.RegistrationToken) {
		return &Error{Code: CodeInvalidToken, Description: "registration requires an initial access token", Status: http.StatusUnauthorized}
	}
	return nil
}

// normalizeMetadata validates md and fills the RFC 7591 defaults.
func (s *Server) normalizeMetadata(md *ClientMetadata) error {
	if md.TokenEndpointAuthMethod == "" {
		md.TokenEndpointAuthMethod = AuthClientSecretBasic // RFC 7591 §2 default
	}
	if !slices.Contains([]string{AuthNone, AuthClientSecretBasic, AuthClientSecretPost}, md.TokenEndpointAuthMethod) {
		return oauthErr(CodeInvalidClientMetadata, fmt.Sprintf("token_endpoint_auth_method %q is not supported (none, client_secret_basic, client_secret_post)", md.TokenEndpointAuthMethod))
	}
	// RFC 7591 §2 defaults apply to absent fields; an explicit [] of
	// response types is a client that uses no redirection flow.
	if md.GrantTypes == nil {
		md.GrantTypes = []string{GrantAuthorizationCode}
	}
	if md.ResponseTypes == nil {
		md.ResponseTypes = []string{"code"}
	}
	if err := s.checkGrantTypes(md); err != nil {
		return err
	}
	if slices.Contains(md.GrantTypes, GrantAuthorizationCode) && len(md.RedirectURIs) == 0 {
		return oauthErr(CodeInvalidRedirectURI, "redirect_uris is required for the authorization_code grant")
	}
	for _, u := range md.RedirectURIs {
		if err := s.validRedirect(u); err != nil {
			return oauthErr(CodeInvalidRedirectURI, err.Error())
		}
	}
	for name, v := range map[string]string{"client_uri": md.ClientURI, "logo_uri": md.LogoURI, "tos_uri": md.TOSURI, "policy_uri": md.PolicyURI} {
		if v != "" && !isHTTPSURL(v) {
			return oauthErr(CodeInvalidClientMetadata, name+" must be an https URL")
		}
	}
	if len(md.ClientName) > 200 || len(md.Scope) > 2000 {
		return oauthErr(CodeInvalidClientMetadata, "client_name or scope is too long")
	}
	return nil
}

func (s *Server) checkGrantTypes(md *ClientMetadata) error {
	for _, g := range md.GrantTypes {
		if !slices.Contains([]string{GrantAuthorizationCode, GrantRefreshToken, GrantTokenExchange, GrantClientCredentials}, g) {
			return oauthErr(CodeInvalidClientMetadata, fmt.Sprintf("grant type %q is not supported", g))
		}
	}
	for _, rt := range md.ResponseTypes {
		if rt != "code" {
			return oauthErr(CodeInvalidClientMetadata, fmt.Sprintf("response type %q is not supported (code only)", rt))
		}
	}
	if slices.Contains(md.GrantTypes, GrantAuthorizationCode) != slices.Contains(md.ResponseTypes, "code") {
		return oauthErr(CodeInvalidClientMetadata, "the authorization_code grant and the code response type go together")
	}
	if slices.Contains(md.GrantTypes, GrantClientCredentials) && md.TokenEndpointAuthMethod == AuthNone {
		return oauthErr(CodeInvalidClientMetadata, "client_credentials requires a confidential client (client_secret_basic or client_secret_post)")
	}
	if slices.Contains(md.GrantTypes, GrantTokenExchange) && md.TokenEndpointAuthMethod == AuthNone {
		return oauthErr(CodeInvalidClientMetadata, "token exchange makes the client an actor in a delegation chain: it requires a confidential client (client_secret_basic or client_secret_post)")
	}
	return nil
}

func isHTTPSURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}
