package dpop

import (
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of VerifyOptions fields left zero.
const (
	// DefaultMaxAge is how old a proof (its iat) may be.
	DefaultMaxAge = 60 * time.Second
	// DefaultSkew is how far in the future a proof's iat may be.
	DefaultSkew = 5 * time.Second
	// MaxIDLength bounds a proof's jti: a replay cache must not hold a
	// megabyte per entry.
	MaxIDLength = 256
)

// Algorithms are the asymmetric algorithms a proof may use by default
// (never "none", never HMAC).
var Algorithms = []string{"EdDSA", "ES256", "ES384", "RS256", "PS256"}

// Sentinel errors; every one is reported to the client as invalid_dpop_proof
// (RFC 9449 §7.1), except ErrUseNonce, which asks it to retry with the nonce.
var (
	ErrInvalidProof = errors.New("invalid DPoP proof")
	ErrUseNonce     = errors.New("use the DPoP nonce")
	ErrKeyMismatch  = errors.New("the DPoP proof's key is not the token's")
)

// Proof is a verified DPoP proof.
type Proof struct {
	ID       string    // jti: the caller records it in a ReplayCache
	IssuedAt time.Time // iat
	JKT      string    // RFC 7638 thumbprint of the proof's key
	Method   string    // htm
	URL      string    // htu, normalized
	Nonce    string    // nonce, "" when the proof carries none
}

// VerifyOptions say what the proof must show. Method and URL are required.
type VerifyOptions struct {
	Method string // the request's method
	// URL is the request's absolute URL as the client addressed it (behind a
	// reverse proxy: the configured public URL plus the path); its query
	// and fragment are ignored, scheme and host compared case-insensitively
	// and default ports dropped (RFC 9449 §4.3, RFC 3986 §6.2).
	URL string
	// AccessToken, when set, must be the proof's ath (SHA-256, base64url).
	AccessToken string
	// JKT, when set, is the cnf.jkt of the access token: the proof's key
	// must be that key.
	JKT string
	// Nonce, when set, must be the proof's nonce (else ErrUseNonce).
	Nonce      string
	MaxAge     time.Duration // zero means DefaultMaxAge
	Skew       time.Duration // zero means DefaultSkew
	Algorithms []string      // nil means Algorithms
}

// Verify checks a DPoP proof JWT at now.
func Verify(proof string, o VerifyOptions, now time.Time) (*Proof, error) {
	if o.Method == "" || o.URL == "" {
		return nil, fmt.Errorf("%w: the method and URL to check are required", ErrInvalidProof)
	}
	want, err := NormalizeURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidProof, err)
	}
	algs := o.Algorithms
	if algs == nil {
		algs = Algorithms
	}
	var jkt string
	claims := jwt.MapClaims{}
	p := jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithoutClaimsValidation(), jwt.WithJSONNumber())
	_, err = p.ParseWithClaims(proof, claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, "dpop+jwt") {
			return nil, errors.New("typ is not dpop+jwt")
		}
		pub, thumb, err := parseJWK(t.Header["jwk"])
		if err != nil {
			return nil, err
		}
		jkt = thumb
		return pub, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidProof, err)
	}
	out, err := checkClaims(claims, o, want, now)
	if err != nil {
		return nil, err
	}
	out.JKT = jkt
	if o.JKT != "" && o.JKT != jkt {
		return nil, ErrKeyMismatch
	}
	return out, nil
}

func checkClaims(c jwt.MapClaims, o VerifyOptions, wantURL string, now time.Time) (*Proof, error) {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: "+f, append([]any{ErrInvalidProof}, a...)...) }
	jti, _ := c["jti"].(string)
	htm, _ := c["htm"].(string)
	htu, _ := c["htu"].(string)
	switch {
	case jti == "" || len(jti) > MaxIDLength:
		return nil, bad("jti missing or longer than %d", MaxIDLength)
	case htm != o.Method:
		return nil, bad("htm %q is not the request's method %s", htm, o.Method)
	}
	got, err := NormalizeURL(htu)
	if err != nil || got != wantURL {
		return nil, bad("htu %q is not the request's URL", htu)
	}
	n, ok := c["iat"].(interface{ Int64() (int64, error) })
	if !ok {
		return nil, bad("iat missing")
	}
	secs, err := n.Int64()
	if err != nil {
		return nil, bad("iat is not an integer")
	}
	iat := time.Unix(secs, 0)
	maxAge, skew := or(o.MaxAge, DefaultMaxAge), or(o.Skew, DefaultSkew)
	if iat.Before(now.Add(-maxAge)) || iat.After(now.Add(skew)) {
		return nil, bad("iat outside the accepted window")
	}
	if o.AccessToken != "" {
		if ath, _ := c["ath"].(string); ath != AccessTokenHash(o.AccessToken) {
			return nil, bad("ath is not the hash of the access token")
		}
	}
	if o.Nonce != "" {
		if nonce, _ := c["nonce"].(string); subtle.ConstantTimeCompare([]byte(nonce), []byte(o.Nonce)) != 1 {
			return nil, ErrUseNonce
		}
	}
	nonce, _ := c["nonce"].(string)
	return &Proof{ID: jti, IssuedAt: iat, Method: htm, URL: got, Nonce: nonce}, nil
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// AccessTokenHash is a proof's ath for token: base64url(SHA-256(token)).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// NormalizeURL returns raw as htu compares it: scheme and host in lower
// case, the default port dropped, no query, no fragment, "/" for an empty
// path.
func NormalizeURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && !(u.Scheme == "http" && p == "80") && !(u.Scheme == "https" && p == "443") {
		host += ":" + p
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return strings.ToLower(u.Scheme) + "://" + host + path, nil
}

// ProofOptions are the optional claims of NewProof.
type ProofOptions struct {
	AccessToken string // sets ath
	Nonce       string // sets nonce
	ID          string // jti; "" means 128 random bits
}

// NewProof returns a DPoP proof for method and url signed by key (an
// ed25519.PrivateKey, *ecdsa.PrivateKey or *rsa.PrivateKey) at now.
func NewProof(key crypto.Signer, method, url string, o ProofOptions, now time.Time) (string, error) {
	k, err := publicJWK(key.Public())
	if err != nil {
		return "", err
	}
	var m jwt.SigningMethod
	switch k.Kty {
	case "OKP":
		m = jwt.SigningMethodEdDSA
	case "EC":
		m = map[string]jwt.SigningMethod{"P-256": jwt.SigningMethodES256, "P-384": jwt.SigningMethodES384}[k.Crv]
	case "RSA":
		m = jwt.SigningMethodPS256
	}
	id := o.ID
	if id == "" {
		id = randomID()
	}
	c := jwt.MapClaims{"jti": id, "htm": method, "htu": url, "iat": now.Unix()}
	if o.AccessToken != "" {
		c["ath"] = AccessTokenHash(o.AccessToken)
	}
	if o.Nonce != "" {
		c["nonce"] = o.Nonce
	}
	t := jwt.NewWithClaims(m, c)
	t.Header["typ"] = "dpop+jwt"
	t.Header["jwk"] = k
	return t.SignedString(key)
}
