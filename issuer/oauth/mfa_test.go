package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store/storetest"
)

var (
	totpSecretRE   = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	recoveryCodeRE = regexp.MustCompile(`<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>`)
)

// testClock is a settable clock for the server (TOTP steps are 30 s).
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func code(t *testing.T, secret string, at time.Time) string {
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolTOTP enrols the logged-in browser's user and returns the secret and
// the recovery codes.
func enrolTOTP(t *testing.T, h *harness, c *http.Client, now time.Time) (string, []string) {
	t.Helper()
	_, body := h.get(c, h.url("/account/security"))
	csrf := csrfField.FindStringSubmatch(body)[1]
	_, body = h.postForm(c, h.url("/account/security"), url.Values{"csrf": {csrf}, "action": {"totp-start"}})
	m := totpSecretRE.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "data:image/png;base64,") {
		t.Fatalf("no secret or QR code on the enrolment page:\n%s", body)
	}
	secret := m[1]
	if resp, _ := h.postForm(c, h.url("/account/security"), url.Values{"csrf": {csrf}, "action": {"totp-confirm"},
		"code": {"000000"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("wrong confirmation code = %d", resp.StatusCode)
	}
	resp, body := h.postForm(c, h.url("/account/security"), url.Values{"csrf": {csrf}, "action": {"totp-confirm"},
		"code": {code(t, secret, now)}})
	var codes []string
	for _, m := range recoveryCodeRE.FindAllStringSubmatch(body, -1) {
		codes = append(codes, m[1])
	}
	if resp.StatusCode != http.StatusOK || len(codes) != oauth.RecoveryCodes {
		t.Fatalf("confirm = %d, %d recovery codes\n%s", resp.StatusCode, len(codes), body)
	}
	return secret, codes
}

// passwordThen logs in with the password on a new browser and submits code
// to the second-factor form; it returns the browser and the status.
func passwordThen(t *testing.T, h *harness, code string) (*http.Client, int) {
	t.Helper()
	c := newBrowser()
	resp := h.login(c, testUser, testPassword)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login/2fa?") {
		t.Fatalf("password login = %d %s, want the second-factor form", resp.StatusCode, loc)
	}
	// The pending session is not a login yet.
	if resp, _ := h.get(c, h.url("/account/delegations")); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("account page before the second factor = %d", resp.StatusCode)
	}
	_, body := h.get(c, h.url(loc))
	csrf := csrfField.FindStringSubmatch(body)[1]
	resp, _ = h.postForm(c, h.url("/login/2fa"), url.Values{"csrf": {csrf}, "code": {code}, "return_to": {"/account/delegations"}})
	return c, resp.StatusCode
}

// TestTOTP: enrolment, login with a code of the current step and of the
// steps either side (skew 1), a code two steps away refused, a code never
// accepted twice, recovery codes single use.
func TestTOTP(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		clock := &testClock{t: time.Now().Truncate(30 * time.Second).Add(10 * time.Second)}
		h := newHarness(t, b, func(o *oauth.Options) { o.Now = clock.Now })
		h.login(h.browser, testUser, testPassword)
		secret, codes := enrolTOTP(t, h, h.browser, clock.Now())

		clock.Add(2 * time.Minute)
		now := clock.Now()
		if _, status := passwordThen(t, h, "123456"); status != http.StatusUnauthorized {
			t.Errorf("wrong code = %d", status)
		}
		if _, status := passwordThen(t, h, code(t, secret, now.Add(-60*time.Second))); status != http.StatusUnauthorized {
			t.Errorf("code two steps old = %d", status)
		}
		if _, status := passwordThen(t, h, code(t, secret, now.Add(60*time.Second))); status != http.StatusUnauthorized {
			t.Errorf("code two steps ahead = %d", status)
		}
		c, status := passwordThen(t, h, code(t, secret, now.Add(-30*time.Second)))
		if status != http.StatusSeeOther {
			t.Fatalf("code one step old = %d", status)
		}
		if resp, _ := h.get(c, h.url("/account/delegations")); resp.StatusCode != http.StatusOK {
			t.Errorf("account page after the second factor = %d", resp.StatusCode)
		}
		// The same code (or an older step) again is a replay.
		if _, status := passwordThen(t, h, code(t, secret, now.Add(-30*time.Second))); status != http.StatusUnauthorized {
			t.Errorf("replayed code = %d", status)
		}
		if _, status := passwordThen(t, h, code(t, secret, now)); status != http.StatusSeeOther {
			t.Errorf("current code = %d", status)
		}
		if _, status := passwordThen(t, h, code(t, secret, now.Add(30*time.Second))); status != http.StatusSeeOther {
			t.Errorf("code one step ahead = %d", status)
		}
		// Recovery codes: each once, dashes and case ignored.
		if _, status := passwordThen(t, h, strings.ToUpper(strings.ReplaceAll(codes[0], "-", ""))); status != http.StatusSeeOther {
			t.Errorf("recovery code = %d", status)
		}
		if _, status := passwordThen(t, h, codes[0]); status != http.StatusUnauthorized {
			t.Errorf("recovery code used twice = %d", status)
		}
		if n, _ := h.st.RecoveryCodesLeft(context.Background(), testUser); n != oauth.RecoveryCodes-1 {
			t.Errorf("recovery codes left = %d", n)
		}
		// The secret is sealed at rest.
		tt, err := h.st.GetTOTP(context.Background(), testUser)
		if err != nil || string(tt.Secret) != secret || tt.Confirmed.IsZero() {
			t.Errorf("stored totp = %+v, %v", tt, err)
		}
	})
}

// TestRequire2FAForAdmins: an admin without a second factor may only enrol;
// once enrolled, the session is a full one and the flow continues.
func TestRequire2FAForAdmins(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		clock := &testClock{t: time.Now()}
		h := newHarness(t, b, func(o *oauth.Options) { o.Now = clock.Now; o.RequireSecondFactorForAdmins = true })
		if err := h.st.SetAdmin(context.Background(), testUser, true); err != nil {
			t.Fatal(err)
		}
		resp := h.login(h.browser, testUser, testPassword)
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/account/security") {
			t.Fatalf("admin login goes to %q, want the enrolment page", loc)
		}
		id := h.publicClient()
		_, challenge := pkce()
		resp, _ = h.get(h.browser, h.url("/oauth2/authorize?"+h.authParams(id, challenge).Encode()))
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/account/security") {
			t.Errorf("authorize before enrolment = %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := h.get(h.browser, h.url("/account/delegations")); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("account page before enrolment = %d", resp.StatusCode)
		}
		enrolTOTP(t, h, h.browser, clock.Now())
		h.codeToken(id, nil) // consent works now
		// An ordinary user is not asked.
		if err := h.st.SetAdmin(context.Background(), testUser, false); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTOTPThrottle: after 10 wrong codes in the window, even a right code
// is refused (429) until the window passes.
func TestTOTPThrottle(t *testing.T) {
	clock := &testClock{t: time.Now()}
	h := newHarness(t, storetest.Backends(t)[0], func(o *oauth.Options) { o.Now = clock.Now })
	h.login(h.browser, testUser, testPassword)
	secret, _ := enrolTOTP(t, h, h.browser, clock.Now())
	for range 10 {
		if _, status := passwordThen(t, h, "000000"); status != http.StatusUnauthorized {
			t.Fatalf("wrong code = %d", status)
		}
	}
	clock.Add(30 * time.Second)
	if _, status := passwordThen(t, h, code(t, secret, clock.Now())); status != http.StatusTooManyRequests {
		t.Errorf("right code after 10 failures = %d, want 429", status)
	}
	clock.Add(16 * time.Minute)
	if _, status := passwordThen(t, h, code(t, secret, clock.Now())); status != http.StatusSeeOther {
		t.Errorf("right code after the window = %d", status)
	}
}
