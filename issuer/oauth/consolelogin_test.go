package oauth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestAuthenticateAdmin: only an enabled admin account with the right
// password and no second factor may sign in to the console with a password;
// every refusal is the same error.
func TestAuthenticateAdmin(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		clock := &testClock{t: time.Now().Truncate(30 * time.Second).Add(10 * time.Second)}
		h := newHarness(t, b, func(o *oauth.Options) { o.Now = clock.Now })
		ctx := context.Background()
		if _, err := h.as.AuthenticateAdmin(ctx, testUser, testPassword); !errors.Is(err, oauth.ErrConsoleLogin) {
			t.Fatalf("a user without the admin role: %v, want ErrConsoleLogin", err)
		}
		if err := h.st.SetAdmin(ctx, testUser, true); err != nil {
			t.Fatal(err)
		}
		actor, err := h.as.AuthenticateAdmin(ctx, testUser, testPassword)
		if err != nil || actor != "user:"+testUser {
			t.Fatalf("an admin: %q, %v", actor, err)
		}
		for name, creds := range map[string][2]string{
			"wrong password": {testUser, testPassword + "x"},
			"unknown user":   {"mallory", testPassword},
		} {
			if _, err := h.as.AuthenticateAdmin(ctx, creds[0], creds[1]); !errors.Is(err, oauth.ErrConsoleLogin) {
				t.Errorf("%s: %v, want ErrConsoleLogin", name, err)
			}
		}
		// With a second factor enrolled, a password alone is not enough.
		h.login(h.browser, testUser, testPassword)
		enrolTOTP(t, h, h.browser, clock.Now())
		if _, err := h.as.AuthenticateAdmin(ctx, testUser, testPassword); !errors.Is(err, oauth.ErrConsoleLogin) {
			t.Fatalf("an admin with TOTP, password only: %v, want ErrConsoleLogin", err)
		}
	})
}
