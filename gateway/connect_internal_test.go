package gateway

import (
	"strings"
	"testing"
	"time"
)

// TestConnectTicket: a ticket names one user and one upstream, expires after
// ConnectTicketTTL, and any change to it (or another key) voids it.
func TestConnectTicket(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newConnector([]byte("0123456789abcdef0123456789abcdef"), nil, func() time.Time { return now })
	tk := c.ticket("alice", "hosted")
	if u, err := c.checkTicket(tk, "hosted"); err != nil || u != "alice" {
		t.Fatalf("valid ticket = %q, %v", u, err)
	}
	p, sig, _ := strings.Cut(tk, ".")
	other := newConnector([]byte("another key, 32 bytes long......"), nil, c.now)
	for name, bad := range map[string]struct{ ticket, upstream string }{
		"other upstream": {tk, "other"},
		"tampered":       {p + "x." + sig, "hosted"},
		"no signature":   {p, "hosted"},
		"other key":      {other.ticket("alice", "hosted"), "hosted"},
		"empty":          {"", "hosted"},
	} {
		if u, err := c.checkTicket(bad.ticket, bad.upstream); err == nil {
			t.Errorf("%s: accepted for %q", name, u)
		}
	}
	now = now.Add(ConnectTicketTTL + time.Second)
	if _, err := c.checkTicket(tk, "hosted"); err == nil {
		t.Error("an expired ticket was accepted")
	}
}
