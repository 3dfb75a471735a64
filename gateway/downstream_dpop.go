package gateway

// Downstream DPoP (RFC 9449): for an upstream registered with
// downstream_dpop, the gateway's downstream token is bound to a DPoP key of
// the gateway's (cnf.jkt, set by the minter) and every request to the
// upstream carries a fresh proof of that key under the DPoP scheme. The key
// is generated when the gateway starts and never leaves the process: it is
// not the downstream signing key (one key, one purpose), and each replica
// has its own, which is enough because a replica only ever presents tokens
// it minted itself.

import (
	"crypto"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/dpop"
)

// dpopKey is the gateway's downstream DPoP key and its RFC 7638 thumbprint.
type dpopKey struct {
	signer crypto.Signer
	jkt    string
}

// newDPoPKey generates the gateway's downstream DPoP key (Ed25519). Neither
// step can fail: crypto/rand does not return errors, and an Ed25519 public
// key always has a thumbprint.
func newDPoPKey() *dpopKey {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic("gateway: downstream DPoP key: " + err.Error())
	}
	jkt, err := dpop.Thumbprint(priv.Public())
	if err != nil {
		panic("gateway: downstream DPoP key: " + err.Error())
	}
	return &dpopKey{signer: priv, jkt: jkt}
}

// setDPoP puts on req the downstream token tok under the DPoP scheme with a
// proof of k for req's method and URL (htu: without query and fragment) and
// ath = tok's hash. A proof is per request; the token is cached.
func (k *dpopKey) setDPoP(req *http.Request, tok string, now time.Time) error {
	u := *req.URL
	u.RawQuery, u.Fragment, u.RawFragment, u.User = "", "", "", nil
	proof, err := dpop.NewProof(k.signer, req.Method, u.String(), dpop.ProofOptions{AccessToken: tok}, now)
	if err != nil {
		return fmt.Errorf("gateway: downstream DPoP proof: %w", err)
	}
	req.Header.Set("Authorization", string(authority.SchemeDPoP)+" "+tok)
	req.Header.Set("DPoP", proof)
	return nil
}
