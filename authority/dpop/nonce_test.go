package dpop

import (
	"strings"
	"testing"
	"time"
)

// TestNonces: the current and previous nonces are accepted, older ones and
// another role's are not; replicas sharing the secret agree.
func TestNonces(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	a, err := NewNonces("role a\x00", NonceOptions{Secret: secret, Rotation: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	replica, _ := NewNonces("role a\x00", NonceOptions{Secret: secret, Rotation: time.Minute})
	other, _ := NewNonces("role b\x00", NonceOptions{Secret: secret, Rotation: time.Minute})
	now := time.Unix(1_780_000_000, 0)
	cur := a.At(now, 0)
	if replica.At(now, 0) != cur {
		t.Fatal("replicas sharing the secret disagree")
	}
	if other.At(now, 0) == cur || other.Accepts(cur, now) {
		t.Fatal("another role's nonces are accepted")
	}
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {time.Minute, true}, {2 * time.Minute, false}} {
		if got := a.Accepts(cur, now.Add(tc.at)); got != tc.want {
			t.Errorf("%v later: Accepts = %v, want %v", tc.at, got, tc.want)
		}
	}
	if _, err := NewNonces("x", NonceOptions{Secret: []byte("short")}); err == nil {
		t.Fatal("a short secret is accepted")
	}
}
