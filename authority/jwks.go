package authority

import (
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// jwk is one RFC 7517 JSON Web Key: OKP/Ed25519 (RFC 8037) or RSA.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
	D   string `json:"d,omitempty"` // read only to refuse private key material
}

type jwksWire struct {
	Keys []json.RawMessage `json:"keys"`
}

var b64 = base64.RawURLEncoding.Strict()

// JWKS returns the RFC 7517 JSON Web Key Set of the public keys not retired
// at now, oldest first: {"keys":[{"kty":"OKP","crv":"Ed25519","x":…,"kid":…,
// "alg":"EdDSA","use":"sig"}, {"kty":"RSA","n":…,"e":…,…}]}.
func (s *KeySet) JWKS(now time.Time) ([]byte, error) { return JoinJWKS(now, s) }

// JoinJWKS returns one JSON Web Key Set of the public keys of every set not
// retired at now: the keys of sets[0] first, each set's oldest first, as
// JWKS lays out one set. It is how one jwks_uri publishes keys kept in
// several places (an issuer's key directory and its store). A kid that two
// sets share is an error: a verifier could not tell the keys apart, and
// ParseJWKS refuses such a set. No sets gives {"keys":[]}.
func JoinJWKS(now time.Time, sets ...*KeySet) ([]byte, error) {
	keys := []jwk{}
	seen := map[string]bool{}
	for _, s := range sets {
		for _, k := range s.live(now) {
			if seen[k.kid] {
				return nil, fmt.Errorf("authority: JWKS: kid %q in two key sets", k.kid)
			}
			seen[k.kid] = true
			j, err := k.jwk()
			if err != nil {
				return nil, err
			}
			keys = append(keys, j)
		}
	}
	return json.Marshal(struct {
		Keys []jwk `json:"keys"`
	}{keys})
}

func (k *Key) jwk() (jwk, error) {
	j := jwk{Kid: k.kid, Alg: k.alg, Use: "sig"}
	switch pub := k.public.(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64.EncodeToString(pub)
	case *rsa.PublicKey:
		j.Kty = "RSA"
		j.N = b64.EncodeToString(pub.N.Bytes())
		j.E = b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	default:
		return jwk{}, fmt.Errorf("authority: key %s: unsupported key type %T", k.kid, k.public)
	}
	return j, nil
}

// ParseJWKS parses a JSON Web Key Set into a verify-only KeySet whose keys
// never retire. Keys of other types, curves or algorithms (EC, PS256, …) are
// skipped so that an issuer may publish them; a malformed Ed25519 or RSA key,
// a duplicate kid, a key without kid, a key not for signatures, or any
// private key material is an error.
func ParseJWKS(data []byte) (*KeySet, error) {
	var set jwksWire
	if err := json.Unmarshal(data, &set); err != nil || set.Keys == nil {
		return nil, fmt.Errorf("%w: JWKS: want {\"keys\":[…]}", ErrMalformed)
	}
	ks := NewKeySet()
	seen := map[string]bool{}
	for i, raw := range set.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: JWKS key %d: %w", ErrMalformed, i, err)
		}
		if k == nil {
			continue
		}
		if seen[k.kid] {
			return nil, fmt.Errorf("%w: JWKS: duplicate kid %q", ErrMalformed, k.kid)
		}
		seen[k.kid] = true
		ks.Add(k, time.Time{})
	}
	return ks, nil
}

// parseJWK returns nil, nil for a key of a type this package does not use.
func parseJWK(raw json.RawMessage) (*Key, error) {
	var j jwk
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, err
	}
	switch {
	case j.D != "":
		return nil, errors.New("private key material in a public JWKS")
	case j.Use != "" && j.Use != "sig":
		return nil, nil
	case j.Kty == "OKP" && j.Crv == "Ed25519" && (j.Alg == "" || j.Alg == AlgEdDSA):
		x, err := b64.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 x")
		}
		return newKey(j.Kid, ed25519.PublicKey(x))
	case j.Kty == "RSA" && (j.Alg == "" || j.Alg == AlgRS256):
		pub, err := rsaPublic(j.N, j.E)
		if err != nil {
			return nil, err
		}
		return newKey(j.Kid, pub)
	}
	return nil, nil
}

func rsaPublic(n64, e64 string) (*rsa.PublicKey, error) {
	n, err := b64.DecodeString(n64)
	if err != nil || len(n) == 0 || n[0] == 0 {
		return nil, errors.New("bad RSA n")
	}
	e, err := b64.DecodeString(e64)
	if err != nil || len(e) == 0 || len(e) > 4 || e[0] == 0 {
		return nil, errors.New("bad RSA e")
	}
	ev := new(big.Int).SetBytes(e).Int64()
	if ev < 3 || ev%2 == 0 {
		return nil, errors.New("bad RSA e")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(ev)}, nil
}
