package oauth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

// Error codes this server answers with: RFC 6749 §4.1.2.1 and §5.2, RFC 6750
// (invalid_token), RFC 7009 (unsupported_token_type), RFC 7591
// (invalid_redirect_uri, invalid_client_metadata), RFC 8707 (invalid_target)
// and RFC 9396 (invalid_authorization_details).
const (
	CodeInvalidRequest              = "invalid_request"
	CodeInvalidClient               = "invalid_client"
	CodeInvalidGrant                = "invalid_grant"
	CodeUnauthorizedClient          = "unauthorized_client"
	CodeUnsupportedGrantType        = "unsupported_grant_type"
	CodeUnsupportedResponseType     = "unsupported_response_type"
	CodeInvalidScope                = "invalid_scope"
	CodeInvalidTarget               = "invalid_target"
	CodeInvalidAuthorizationDetails = "invalid_authorization_details"
	CodeAccessDenied                = "access_denied"
	CodeServerError                 = "server_error"
	CodeInvalidToken                = "invalid_token"
	CodeUnsupportedTokenType        = "unsupported_token_type"
	CodeInvalidRedirectURI          = "invalid_redirect_uri"
	CodeInvalidClientMetadata       = "invalid_client_metadata"
)

// Error is every OAuth error this server returns: the RFC 6749 "error" code,
// a description safe to show the client (never an internal error or a
// secret), and the HTTP status. It renders as the RFC 6749 §5.2 JSON body,
// or as query parameters of a redirect from the authorization endpoint.
type Error struct {
	Code        string // "invalid_grant", …
	Description string // error_description
	Status      int    // HTTP status; 0 means 400
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// status returns the HTTP status, 400 by default.
func (e *Error) status() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

// oauthErr builds an *Error with the default status.
func oauthErr(code, desc string) *Error { return &Error{Code: code, Description: desc} }

// errServer is what a client sees of an internal failure; the cause goes to
// the log only.
var errServer = &Error{Code: CodeServerError, Description: "internal error", Status: http.StatusInternalServerError}

// asOAuth returns err as an *Error. Anything else is logged and replaced by
// errServer, so that internals never reach the client.
func asOAuth(log *slog.Logger, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	log.Error("oauth request failed", "err", err)
	return errServer
}

// writeError answers err as RFC 6749 JSON. An invalid_client refused on
// HTTP Basic authentication carries the WWW-Authenticate challenge RFC 6749
// §5.2 requires.
func writeError(w http.ResponseWriter, log *slog.Logger, err error) {
	e := asOAuth(log, err)
	if e.status() == http.StatusUnauthorized {
		if e.Code == CodeInvalidToken {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Basic realm="legant"`)
		}
	}
	writeJSON(w, e.status(), struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
}

// writeJSON answers v with the no-store headers every OAuth response carries.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeJSONBody encodes v after the caller set the headers (status 200).
func writeJSONBody(w http.ResponseWriter, v any) {
	json.NewEncoder(w).Encode(v)
}
