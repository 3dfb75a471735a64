package store_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestIdentityMigrationKeepsAccounts: an account and a login session made
// under schema 0002 work after 0005_identity: not an admin, no e-mail, no second
// factor, the session a full one.
func TestIdentityMigrationKeepsAccounts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		opts := b.Options(t)
		now := time.Now()
		err := store.MigrateTo(ctx, opts, 2, func(db *sql.DB) error {
			if _, err := db.ExecContext(ctx, `INSERT INTO oauth_users (username, password_hash, created_ns, updated_ns, disabled)
				VALUES ('olduser', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', $1, $1, 0)`, now.UnixNano()); err != nil {
				return err
			}
			_, err := db.ExecContext(ctx, `INSERT INTO oauth_login_sessions (id_hash, username, created_ns, expires_ns)
				VALUES ('h1', 'olduser', $1, $2)`, now.UnixNano(), now.Add(time.Hour).UnixNano())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		st := storetest.Open(t, opts)
		u, err := st.GetUser(ctx, "olduser")
		if err != nil || u.Admin || u.Email != "" || u.PasswordHash == "" {
			t.Fatalf("old user = %+v, %v", u, err)
		}
		ls, err := st.GetLoginSession(ctx, "h1", now)
		if err != nil || ls.Stage != store.StageFull || ls.User != "olduser" {
			t.Fatalf("old session = %+v, %v", ls, err)
		}
		if _, err := st.GetTOTP(ctx, "olduser"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old user has a second factor: %v", err)
		}
		if err := st.SetAdmin(ctx, "olduser", true); err != nil {
			t.Fatal(err)
		}
		if u, _ := st.GetUser(ctx, "olduser"); !u.Admin {
			t.Error("grant-admin did not stick")
		}
	})
}

// TestTOTPStepsAndRecoveryCodes: a step is accepted once and never an
// older one; a recovery code once.
func TestTOTPStepsAndRecoveryCodes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		if err := st.CreateUser(ctx, store.User{Name: "u", PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetTOTP(ctx, "u", []byte("SECRETSECRET")); err != nil {
			t.Fatal(err)
		}
		var sealed []byte
		st.DB().QueryRowContext(ctx, `SELECT secret FROM oauth_totp WHERE username = 'u'`).Scan(&sealed)
		if string(sealed) == "SECRETSECRET" || len(sealed) == 0 {
			t.Error("the TOTP secret is stored in the clear")
		}
		for _, c := range []struct {
			step int64
			want bool
		}{{100, true}, {100, false}, {99, false}, {101, true}} {
			if ok, err := st.UseTOTPStep(ctx, "u", c.step); ok != c.want || err != nil {
				t.Errorf("step %d = %v, %v; want %v", c.step, ok, err, c.want)
			}
		}
		if tt, _ := st.GetTOTP(ctx, "u"); tt.Confirmed.IsZero() || string(tt.Secret) != "SECRETSECRET" {
			t.Errorf("totp = %+v", tt)
		}
		st.SetRecoveryCodes(ctx, "u", []string{"h1", "h2"})
		if ok, _ := st.UseRecoveryCode(ctx, "u", "h1"); !ok {
			t.Error("recovery code refused")
		}
		if ok, _ := st.UseRecoveryCode(ctx, "u", "h1"); ok {
			t.Error("recovery code used twice")
		}
		if n, _ := st.RecoveryCodesLeft(ctx, "u"); n != 1 {
			t.Errorf("left = %d", n)
		}
		if err := st.DeleteUser(ctx, "u"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetTOTP(ctx, "u"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("totp survived the user: %v", err)
		}
	})
}
