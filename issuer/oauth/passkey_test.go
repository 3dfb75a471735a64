package oauth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// softAuthenticator is a WebAuthn authenticator in software: an ECDSA
// P-256 key, "none" attestation, user presence and verification flags, a
// signature counter. It does what a browser and a platform authenticator
// do together: clientDataJSON with the challenge and origin, authenticator
// data with the RP id hash, signatures over both.
type softAuthenticator struct {
	key        *ecdsa.PrivateKey
	credID     []byte
	origin     string
	count      uint32
	userHandle []byte
}

func newSoftAuthenticator(t *testing.T, origin string) *softAuthenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &softAuthenticator{key: key, credID: id, origin: origin}
}

var b64u = base64.RawURLEncoding

type ceremonyOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		UserVerification string `json:"userVerification"`
	} `json:"publicKey"`
}

func (a *softAuthenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return b
}

func (a *softAuthenticator) authData(rpID string, flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	var buf bytes.Buffer
	buf.Write(h[:])
	buf.WriteByte(flags)
	binary.Write(&buf, binary.BigEndian, a.count)
	buf.Write(attested)
	return buf.Bytes()
}

// create answers navigator.credentials.create.
func (a *softAuthenticator) create(t *testing.T, o ceremonyOptions) map[string]any {
	t.Helper()
	a.userHandle, _ = b64u.DecodeString(o.PublicKey.User.ID)
	x, y := a.key.PublicKey.X.FillBytes(make([]byte, 32)), a.key.PublicKey.Y.FillBytes(make([]byte, 32))
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		t.Fatal(err)
	}
	var att bytes.Buffer
	att.Write(make([]byte, 16)) // AAGUID
	binary.Write(&att, binary.BigEndian, uint16(len(a.credID)))
	att.Write(a.credID)
	att.Write(cose)
	ad := a.authData(o.PublicKey.RP.ID, 0x45, att.Bytes()) // UP | UV | AT
	obj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"id": b64u.EncodeToString(a.credID), "rawId": b64u.EncodeToString(a.credID), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64u.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64u.EncodeToString(obj)}}
}

// get answers navigator.credentials.get.
func (a *softAuthenticator) get(t *testing.T, o ceremonyOptions) map[string]any {
	t.Helper()
	a.count++
	ad := a.authData(o.PublicKey.RPID, 0x05, nil) // UP | UV
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"id": b64u.EncodeToString(a.credID), "rawId": b64u.EncodeToString(a.credID), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64u.EncodeToString(cd), "authenticatorData": b64u.EncodeToString(ad),
			"signature": b64u.EncodeToString(sig), "userHandle": b64u.EncodeToString(a.userHandle)}}
}

// postJSON posts body with the CSRF header and returns status and body.
func (h *harness) postJSON(c *http.Client, path, csrf string, body any) (int, string) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, h.url(path), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	resp, out := do(h.t, c, req)
	return resp.StatusCode, out
}

func options(t *testing.T, status int, body string) ceremonyOptions {
	t.Helper()
	var o ceremonyOptions
	if status != http.StatusOK || json.Unmarshal([]byte(body), &o) != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("begin = %d %s", status, body)
	}
	return o
}

// passkeyLogin begins a passwordless login on a fresh browser and returns
// it, its CSRF token and the options.
func passkeyLoginBegin(t *testing.T, h *harness) (*http.Client, string, ceremonyOptions) {
	c := newBrowser()
	_, page := h.get(c, h.url("/login"))
	if !strings.Contains(page, `id="passkey-login"`) {
		t.Fatal("no passkey button on the login page")
	}
	csrf := csrfField.FindStringSubmatch(page)[1]
	status, body := h.postJSON(c, "/login/passkey/begin", csrf, nil)
	return c, csrf, options(t, status, body)
}

// TestPasskeys: registration and passwordless login ceremonies with a
// software authenticator; replay, a wrong key and an unknown credential are
// refused. The issuer is a domain name (localhost): WebAuthn RP ids are.
func TestPasskeys(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		var origin string
		h := newHarness(t, b, func(o *oauth.Options) {
			o.Issuer = strings.Replace(o.Issuer, "127.0.0.1", "localhost", 1)
			origin = o.Issuer
		})
		auth := newSoftAuthenticator(t, origin)
		h.login(h.browser, testUser, testPassword)
		_, page := h.get(h.browser, h.url("/account/security"))
		csrf := csrfField.FindStringSubmatch(page)[1]
		if status, _ := h.postJSON(h.browser, "/account/passkeys/begin", "wrong", nil); status != http.StatusForbidden {
			t.Errorf("begin without the CSRF token = %d", status)
		}
		status, body := h.postJSON(h.browser, "/account/passkeys/begin", csrf, nil)
		o := options(t, status, body)
		if o.PublicKey.RP.ID != "localhost" {
			t.Errorf("rp.id = %q", o.PublicKey.RP.ID)
		}
		if status, body := h.postJSON(h.browser, "/account/passkeys/finish", csrf, auth.create(t, o)); status != http.StatusOK {
			t.Fatalf("register = %d %s", status, body)
		}
		if _, page := h.get(h.browser, h.url("/account/security")); !strings.Contains(page, "You have 1 passkey") {
			t.Error("the security page does not list the passkey")
		}

		c, lcsrf, o := passkeyLoginBegin(t, h)
		if o.PublicKey.UserVerification != "required" {
			t.Errorf("userVerification = %q", o.PublicKey.UserVerification)
		}
		assertion := auth.get(t, o)
		status, body = h.postJSON(c, "/login/passkey/finish?return_to=/account/delegations", lcsrf, assertion)
		if status != http.StatusOK || !strings.Contains(body, `"redirect":"/account/delegations"`) {
			t.Fatalf("passkey login = %d %s", status, body)
		}
		if resp, page := h.get(c, h.url("/account/delegations")); resp.StatusCode != http.StatusOK || !strings.Contains(page, testUser) {
			t.Errorf("account page after passkey login = %d", resp.StatusCode)
		}
		// The same assertion again, against a new challenge: refused.
		c2, csrf2, _ := passkeyLoginBegin(t, h)
		if status, _ := h.postJSON(c2, "/login/passkey/finish", csrf2, assertion); status != http.StatusForbidden {
			t.Errorf("replayed assertion = %d", status)
		}
		// Finishing without a ceremony.
		if status, _ := h.postJSON(c2, "/login/passkey/finish", csrf2, assertion); status != http.StatusBadRequest {
			t.Errorf("finish without begin = %d", status)
		}
		// Another key claiming the same credential id.
		impostor := newSoftAuthenticator(t, origin)
		impostor.credID, impostor.userHandle = auth.credID, auth.userHandle
		c3, csrf3, o3 := passkeyLoginBegin(t, h)
		if status, _ := h.postJSON(c3, "/login/passkey/finish", csrf3, impostor.get(t, o3)); status != http.StatusForbidden {
			t.Errorf("wrong key = %d", status)
		}
		// A credential nobody registered.
		stranger := newSoftAuthenticator(t, origin)
		stranger.userHandle = auth.userHandle
		c4, csrf4, o4 := passkeyLoginBegin(t, h)
		if status, _ := h.postJSON(c4, "/login/passkey/finish", csrf4, stranger.get(t, o4)); status != http.StatusForbidden {
			t.Errorf("unknown credential = %d", status)
		}
		// Another origin (a phishing site relaying the challenge).
		phish := *auth
		phish.origin = "http://localhost.evil.example"
		c5, csrf5, o5 := passkeyLoginBegin(t, h)
		if status, _ := h.postJSON(c5, "/login/passkey/finish", csrf5, phish.get(t, o5)); status != http.StatusForbidden {
			t.Errorf("wrong origin = %d", status)
		}
	})
}

// TestPasskeysNeedADomain: an issuer at an IP address offers no passkeys.
func TestPasskeysNeedADomain(t *testing.T) {
	h := newHarness(t, storetest.Backends(t)[0], nil)
	if _, page := h.get(newBrowser(), h.url("/login")); strings.Contains(page, "passkey-login") {
		t.Error("passkey button offered on an IP-address issuer")
	}
	if status, _ := h.postJSON(newBrowser(), "/login/passkey/begin", "x", nil); status != http.StatusNotFound {
		t.Errorf("begin = %d", status)
	}
}
