package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// privateMembers are JWK members that only a private key has: a proof whose
// jwk carries one is refused (its client leaked its private key).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// jwk is a public JSON Web Key as a DPoP proof carries it.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// parseJWK returns the public key of a JWK header member and its RFC 7638
// thumbprint.
func parseJWK(raw any) (crypto.PublicKey, string, error) {
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, "", errors.New("jwk is not an object")
	}
	for _, m := range privateMembers {
		if _, ok := obj[m]; ok {
			return nil, "", fmt.Errorf("jwk carries private key member %q", m)
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, "", err
	}
	var k jwk
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, "", fmt.Errorf("jwk: %w", err)
	}
	pub, err := k.public()
	if err != nil {
		return nil, "", err
	}
	return pub, k.thumbprint(), nil
}

func (k jwk) public() (crypto.PublicKey, error) {
	switch k.Kty {
	case "OKP":
		x, err := b64(k.X)
		if k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("jwk: OKP key must be Ed25519 with a 32-byte x")
		}
		return ed25519.PublicKey(x), nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		default:
			return nil, fmt.Errorf("jwk: curve %q not allowed", k.Crv)
		}
		x, err1 := b64(k.X)
		y, err2 := b64(k.Y)
		size := (curve.Params().BitSize + 7) / 8
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, errors.New("jwk: bad EC coordinates")
		}
		pub := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if !curve.IsOnCurve(pub.X, pub.Y) {
			return nil, errors.New("jwk: EC point not on the curve")
		}
		return pub, nil
	case "RSA":
		n, err1 := b64(k.N)
		e, err2 := b64(k.E)
		if err1 != nil || err2 != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("jwk: RSA key must have a modulus of at least 2048 bits")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	}
	return nil, fmt.Errorf("jwk: key type %q not allowed", k.Kty)
}

// thumbprint is RFC 7638: SHA-256 of the required members in lexicographic
// order, without whitespace, base64url without padding.
func (k jwk) thumbprint() string {
	var canon string
	switch k.Kty {
	case "OKP":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, k.Crv, k.X)
	case "EC":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, k.Crv, k.X, k.Y)
	case "RSA":
		canon = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, k.E, k.N)
	}
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// publicJWK returns the public JWK of a signing key's public half.
func publicJWK(pub crypto.PublicKey) (jwk, error) {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return jwk{Kty: "OKP", Crv: "Ed25519", X: enc(p)}, nil
	case *ecdsa.PublicKey:
		size := (p.Curve.Params().BitSize + 7) / 8
		crv := map[int]string{256: "P-256", 384: "P-384"}[p.Curve.Params().BitSize]
		if crv == "" {
			return jwk{}, errors.New("dpop: unsupported curve")
		}
		return jwk{Kty: "EC", Crv: crv, X: enc(p.X.FillBytes(make([]byte, size))), Y: enc(p.Y.FillBytes(make([]byte, size)))}, nil
	case *rsa.PublicKey:
		return jwk{Kty: "RSA", N: enc(p.N.Bytes()), E: enc(big.NewInt(int64(p.E)).Bytes())}, nil
	}
	return jwk{}, fmt.Errorf("dpop: unsupported key type %T", pub)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of a public key: the
// value of an access token's cnf.jkt when it is bound to that key.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k, err := publicJWK(pub)
	if err != nil {
		return "", err
	}
	return k.thumbprint(), nil
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.Strict().DecodeString(s) }
func enc(b []byte) string          { return base64.RawURLEncoding.EncodeToString(b) }
