package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/openlegant/legant/issuer/store"
)

// client is an OAuth client as the flows see it, registered (RFC 7591) or
// described by a client ID metadata document.
type client struct {
	ID           string
	Name         string
	URI          string
	LogoURI      string
	RedirectURIs []string
	GrantTypes   []string
	AuthMethod   string
	Scope        string // "" = any scope
	secretHash   string // "" = public client
	// Document is true for a client whose id is an https URL serving its
	// metadata: the id's host vouches for the client (shown as verified).
	Document bool
}

func (c *client) public() bool { return c.secretHash == "" }

func (c *client) allows(grant string) bool { return slices.Contains(c.GrantTypes, grant) }

// displayName is the name a person sees: the client's name, else its id.
func (c *client) displayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// host is the host of a metadata document client's id ("" otherwise).
func (c *client) host() string {
	if !c.Document {
		return ""
	}
	u, err := url.Parse(c.ID)
	if err != nil {
		return ""
	}
	return u.Host
}

func fromStored(sc *store.OAuthClient) *client {
	return &client{ID: sc.ID, Name: sc.Name, URI: sc.URI, LogoURI: sc.LogoURI, RedirectURIs: sc.RedirectURIs,
		GrantTypes: sc.GrantTypes, AuthMethod: sc.AuthMethod, Scope: sc.Scope, secretHash: sc.SecretHash}
}

// errUnknownClient is what an unknown or unauthenticated client learns.
var errUnknownClient = &Error{Code: CodeInvalidClient, Description: "client authentication failed", Status: http.StatusUnauthorized}

// lookupClient finds a client by id: an https id is a metadata document,
// fetched; anything else a registered client.
func (s *Server) lookupClient(ctx context.Context, id string) (*client, error) {
	if id == "" {
		return nil, oauthErr(CodeInvalidRequest, "client_id is required")
	}
	if strings.HasPrefix(id, "https://") {
		return s.docs.fetch(ctx, id)
	}
	sc, err := s.opts.Store.GetOAuthClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oauthErr(CodeInvalidClient, "unknown client_id")
	}
	if err != nil {
		return nil, err
	}
	return fromStored(sc), nil
}

// authenticateClient identifies the client of a token, revocation or
// introspection request (form already parsed): HTTP Basic or
// client_secret_post for a confidential client, client_id alone for a
// public one. A confidential client must present its secret; a public one
// must not present any.
func (s *Server) authenticateClient(r *http.Request) (*client, error) {
	id, secret, method, err := clientCredentials(r)
	if err != nil {
		return nil, err
	}
	c, err := s.lookupClient(r.Context(), id)
	var oe *Error
	if errors.As(err, &oe) {
		return nil, errUnknownClient
	}
	if err != nil {
		return nil, err
	}
	if c.public() {
		if method != AuthNone {
			return nil, errUnknownClient
		}
		return c, nil
	}
	if method == AuthNone || !equalSecret(hashSecret(secret), c.secretHash) {
		return nil, errUnknownClient
	}
	return c, nil
}

// clientCredentials reads the client id and secret from HTTP Basic
// (form-urlencoded parts, RFC 6749 §2.3.1) or the form.
func clientCredentials(r *http.Request) (id, secret, method string, err error) {
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok {
		if formSecret != "" {
			return "", "", "", oauthErr(CodeInvalidRequest, "use one client authentication method, not both")
		}
		if id, err = url.QueryUnescape(bid); err == nil {
			secret, err = url.QueryUnescape(bsecret)
		}
		if err != nil || id == "" {
			return "", "", "", errUnknownClient
		}
		if formID != "" && formID != id {
			return "", "", "", oauthErr(CodeInvalidRequest, "client_id differs from the authenticated client")
		}
		return id, secret, AuthClientSecretBasic, nil
	}
	if formID == "" {
		return "", "", "", errUnknownClient
	}
	if formSecret != "" {
		return formID, formSecret, AuthClientSecretPost, nil
	}
	return formID, "", AuthNone, nil
}
