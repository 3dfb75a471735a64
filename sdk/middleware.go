package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/policy"
)

// MiddlewareOptions tune Verifier.Middleware. A nil *MiddlewareOptions means
// the zero value: verify the token, put its claims in the context, and leave
// authorization to the handler (sdk.Authorize or Verifier.Reserve).
type MiddlewareOptions struct {
	// ResourceMetadata is the URL of this resource's RFC 9728 metadata,
	// named in WWW-Authenticate; "" = Verifier.ResourceMetadataURL().
	ResourceMetadata string
	// Scope, when set, is required of every request: a token without it is
	// answered 403 insufficient_scope.
	Scope string
	// Action, when set, says what a request does; the middleware reserves it
	// (Verifier.Reserve: policy, budget and max_calls) before the handler
	// runs and answers 403 on denial. The hold is settled when the handler
	// answers with a status below 400 and released otherwise. An error from
	// Action is answered 400 with the error's text.
	Action func(*http.Request) (Action, error)
}

// Middleware returns net/http middleware that admits only requests bearing a
// delegation token the Verifier accepts, with the verified claims in the
// request's context (ClaimsFrom). Refusals follow RFC 6750: 401 with
// WWW-Authenticate: Bearer resource_metadata="…" (and error="invalid_token"
// for a bad, expired or revoked token); 403 with error="insufficient_scope"
// for a missing scope or a policy denial, whose JSON body carries the
// decision (reason, limit, value); 503 while a required feed is stale or the
// ledger is unavailable.
func (v *Verifier) Middleware(opts *MiddlewareOptions) func(http.Handler) http.Handler {
	var o MiddlewareOptions
	if opts != nil {
		o = *opts
	}
	if o.ResourceMetadata == "" {
		o.ResourceMetadata = v.ResourceMetadataURL()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := v.authenticate(w, r, &o)
			if !ok {
				return
			}
			r = r.WithContext(ContextWithClaims(r.Context(), c))
			if o.Action == nil {
				next.ServeHTTP(w, r)
				return
			}
			v.serveAction(w, r, c, &o, next)
		})
	}
}

// authenticate verifies the bearer token and the required scope, answering
// the request itself when it refuses.
func (v *Verifier) authenticate(w http.ResponseWriter, r *http.Request, o *MiddlewareOptions) (*authority.Claims, bool) {
	c, err := v.VerifyRequest(r)
	// RFC 9449 §7.1: a refusal also says that DPoP is accepted, with the
	// error there when it is about a proof.
	var also []string
	if err != nil && v.dpop.Mode != dpop.ModeBearer {
		var derr error
		if dpop.ErrorCode(err) != "invalid_token" {
			derr = err
		}
		also = []string{dpop.Challenge(derr, nil)}
	}
	switch {
	case errors.Is(err, ErrNoToken):
		writeChallenges(w, http.StatusUnauthorized, also, o.ResourceMetadata, "", "a bearer token is required", o.Scope, nil)
		return nil, false
	case errors.Is(err, ErrFeedStale):
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable",
			Description: ErrorDescription(err)})
		return nil, false
	case err != nil && dpop.ErrorCode(err) != "invalid_token":
		// The proof, not the token: the error is on the DPoP challenge.
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer resource_metadata=%q", o.ResourceMetadata))
		w.Header().Add("WWW-Authenticate", also[0])
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: dpop.ErrorCode(err), Description: ErrorDescription(err)})
		return nil, false
	case err != nil:
		writeChallenges(w, http.StatusUnauthorized, also, o.ResourceMetadata, "invalid_token", ErrorDescription(err), o.Scope, nil)
		return nil, false
	case o.Scope != "" && !c.HasScope(o.Scope):
		writeChallenge(w, http.StatusForbidden, o.ResourceMetadata, "insufficient_scope",
			"the token lacks scope "+o.Scope, o.Scope, nil)
		return nil, false
	}
	return c, true
}

// serveAction reserves the request's Action and settles or releases the hold
// by the handler's status.
func (v *Verifier) serveAction(w http.ResponseWriter, r *http.Request, c *authority.Claims, o *MiddlewareOptions, next http.Handler) {
	a, err := o.Action(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: err.Error()})
		return
	}
	d, hold := v.Reserve(r.Context(), c, a)
	if !d.Allow {
		WriteDenial(w, d, o.ResourceMetadata)
		return
	}
	defer hold.Release(r.Context()) // no-op once settled; also covers a panic
	sw := &statusWriter{ResponseWriter: w}
	next.ServeHTTP(sw, r)
	if sw.status < http.StatusBadRequest {
		hold.Settle(r.Context())
	}
}

// WriteDenial answers an HTTP request refused by a policy Decision: 403 with
// WWW-Authenticate error="insufficient_scope" and a JSON body naming the
// reason, or 503 when the decision could not be made (the ledger was
// unavailable; d.Cause is for the log, never sent).
func WriteDenial(w http.ResponseWriter, d policy.Decision, resourceMetadata string) {
	e := d.RPCError()
	if e == nil {
		e = policy.Deny(policy.ReasonToolNotBound, "no decision").RPCError()
	}
	if d.Reason == policy.ReasonUnavailable {
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable",
			Description: e.Message, Data: e.Data})
		return
	}
	scope := ""
	if d.Reason == policy.ReasonInsufficientScope {
		scope = d.Limit
	}
	writeChallenge(w, http.StatusForbidden, resourceMetadata, "insufficient_scope", e.Message, scope, e.Data)
}

// oauthError is the JSON body of a refusal (RFC 6750 §3 fields, plus the
// policy decision when there is one).
type oauthError struct {
	Error       string               `json:"error"`
	Description string               `json:"error_description,omitempty"`
	Data        *policy.RPCErrorData `json:"decision,omitempty"`
}

// writeChallenge answers with an RFC 6750 WWW-Authenticate challenge. code ""
// is a request without credentials: no error attribute (RFC 6750 §3.1).
func writeChallenge(w http.ResponseWriter, status int, metadata, code, desc, scope string, data *policy.RPCErrorData) {
	writeChallenges(w, status, nil, metadata, code, desc, scope, data)
}

// writeChallenges is writeChallenge with more challenges after the Bearer
// one (a DPoP challenge).
func writeChallenges(w http.ResponseWriter, status int, also []string, metadata, code, desc, scope string, data *policy.RPCErrorData) {
	var params []string
	if metadata != "" {
		params = append(params, fmt.Sprintf("resource_metadata=%q", metadata))
	}
	if code != "" {
		params = append(params, fmt.Sprintf("error=%q", code), fmt.Sprintf("error_description=%q", quotable(desc)))
	}
	if scope != "" {
		params = append(params, fmt.Sprintf("scope=%q", scope))
	}
	w.Header().Set("WWW-Authenticate", strings.TrimSpace("Bearer "+strings.Join(params, ", ")))
	for _, c := range also {
		w.Header().Add("WWW-Authenticate", c)
	}
	if code == "" {
		code = "invalid_request"
	}
	writeJSON(w, status, oauthError{Error: code, Description: desc, Data: data})
}

// quotable keeps a description inside RFC 6750's allowed characters
// (%x20-21 / %x23-5B / %x5D-7E): a double quote becomes an apostrophe and
// anything else outside them a question mark. The JSON body keeps the exact
// text.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r < 0x20 || r > 0x7e || r == '\\':
			return '?'
		}
		return r
	}, s)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// BearerToken extracts an RFC 6750 bearer token from the Authorization
// header: exactly one header, scheme "Bearer" in any case.
func BearerToken(r *http.Request) (string, bool) {
	return authority.BearerToken(r.Header.Values("Authorization"))
}

// ErrorDescription says why Verify refused a token in words a client may see:
// it never echoes the token or internal detail.
func ErrorDescription(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrRevoked):
		return "the token has been revoked"
	case errors.Is(err, ErrFeedStale):
		return "revocation status is unavailable; try again later"
	case errors.Is(err, dpop.ErrInvalidProof), errors.Is(err, dpop.ErrUseNonce), errors.Is(err, dpop.ErrKeyMismatch),
		errors.Is(err, dpop.ErrBoundAsBearer), errors.Is(err, dpop.ErrNotBound), errors.Is(err, dpop.ErrNotAccepted):
		return dpop.ErrorText(err)
	}
	return authority.ErrorText(err)
}

// statusWriter records the status a handler answered with. It unwraps for
// http.ResponseController (flushing, deadlines).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= http.StatusOK {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
