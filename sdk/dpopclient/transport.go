package dpopclient

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
)

// maxErrorBody bounds how much of a 400 answer is read to look for
// use_dpop_nonce.
const maxErrorBody = 64 << 10

// Transport adds a DPoP proof to every request it sends, and the access
// token with the DPoP scheme when Token is set. Key is required. Safe for
// concurrent use; the nonces it learns are kept per origin.
type Transport struct {
	// Key signs the proofs: an ed25519.PrivateKey, *ecdsa.PrivateKey (P-256
	// or P-384) or *rsa.PrivateKey. Tokens issued to requests it signs are
	// bound to it.
	Key crypto.Signer
	// Token returns the access token for a request; nil sends proofs
	// without a token (token endpoint requests).
	Token func(ctx context.Context) (string, error)
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Now is the clock of the proofs' iat; nil means time.Now.
	Now func() time.Time

	mu     sync.Mutex
	nonces map[string]string // origin → the last DPoP-Nonce it sent
}

// StaticToken is a Token func that always returns tok.
func StaticToken(tok string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return tok, nil }
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Key == nil {
		return nil, errors.New("dpopclient: Transport.Key is required")
	}
	var tok string
	if t.Token != nil {
		var err error
		if tok, err = t.Token(req.Context()); err != nil {
			return nil, fmt.Errorf("dpopclient: access token: %w", err)
		}
	}
	nonce := t.nonce(req)
	resp, err := t.send(req, tok, nonce)
	if err != nil {
		return nil, err
	}
	fresh := t.learn(req, resp)
	if fresh == "" || fresh == nonce || !askedForNonce(resp) {
		return resp, nil
	}
	// RFC 9449 §8, §9: retry once with the server's nonce.
	if req.Body != nil && req.GetBody == nil {
		return resp, nil // the body cannot be sent again
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	resp, err = t.send(retry, tok, fresh)
	if err == nil {
		t.learn(req, resp)
	}
	return resp, err
}

// send signs a proof for req (with tok's ath and nonce when set) and sends
// a clone of req carrying it.
func (t *Transport) send(req *http.Request, tok, nonce string) (*http.Response, error) {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	proof, err := dpop.NewProof(t.Key, req.Method, htu(req), dpop.ProofOptions{AccessToken: tok, Nonce: nonce}, now())
	if err != nil {
		return nil, fmt.Errorf("dpopclient: sign proof: %w", err)
	}
	out := req.Clone(req.Context())
	out.Header.Set("DPoP", proof)
	if tok != "" {
		out.Header.Set("Authorization", string(authority.SchemeDPoP)+" "+tok)
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(out)
}

// htu is the request's URL without query and fragment (RFC 9449 §4.2).
func htu(req *http.Request) string {
	u := *req.URL
	u.RawQuery, u.Fragment, u.RawFragment, u.User = "", "", "", nil
	return u.String()
}

func origin(req *http.Request) string { return strings.ToLower(req.URL.Scheme + "://" + req.URL.Host) }

func (t *Transport) nonce(req *http.Request) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nonces[origin(req)]
}

// learn records the DPoP-Nonce resp carries and returns it ("" if none).
func (t *Transport) learn(req *http.Request, resp *http.Response) string {
	n := resp.Header.Get("DPoP-Nonce")
	if n == "" {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nonces == nil {
		t.nonces = map[string]string{}
	}
	t.nonces[origin(req)] = n
	return n
}

// askedForNonce reports whether resp is a use_dpop_nonce refusal: a 401
// with the error in its WWW-Authenticate challenge (a resource), or a 400
// whose JSON error is use_dpop_nonce (an authorization server). The body of
// a 400 is read and put back.
func askedForNonce(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		for _, c := range resp.Header.Values("WWW-Authenticate") {
			if strings.Contains(c, `error="use_dpop_nonce"`) {
				return true
			}
		}
	case http.StatusBadRequest:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return bytes.Contains(b, []byte(`"use_dpop_nonce"`))
	}
	return false
}
