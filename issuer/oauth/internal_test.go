package oauth

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestPublicAddr(t *testing.T) {
	tests := []struct {
		ip     string
		public bool
	}{
		{"8.8.8.8", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"fd00:ec2::254", false},
		{"fe80::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"100.64.0.1", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::7f00:1", false},
		{"2002:7f00:1::", false},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
	}
	for _, tt := range tests {
		if got := publicAddr(netip.MustParseAddr(tt.ip)); got != tt.public {
			t.Errorf("publicAddr(%s) = %v, want %v", tt.ip, got, tt.public)
		}
	}
}

func TestMatchRedirect(t *testing.T) {
	reg := []string{"http://127.0.0.1/cb", "https://app.example/cb", "http://localhost:3000/done?x=1"}
	tests := []struct {
		uri   string
		match bool
	}{
		{"https://app.example/cb", true},
		{"http://127.0.0.1/cb", true},
		{"http://127.0.0.1:54321/cb", true},
		{"http://localhost:9999/done?x=1", true},
		{"http://localhost:9999/done?x=2", false},
		{"http://127.0.0.1:54321/other", false},
		{"http://localhost:54321/cb", false}, // another loopback name is another URI
		{"https://app.example:8443/cb", false},
		{"https://app.example/cb/", false},
		{"https://APP.example/cb", false},
		{"http://127.0.0.1.evil.example/cb", false},
	}
	for _, tt := range tests {
		if got := matchRedirect(reg, tt.uri); got != tt.match {
			t.Errorf("matchRedirect(%q) = %v, want %v", tt.uri, got, tt.match)
		}
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("a long enough password")
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash = %q, %v", h, err)
	}
	if ok, err := checkPassword(h, "a long enough password"); !ok || err != nil {
		t.Fatalf("right password = %v, %v", ok, err)
	}
	if ok, _ := checkPassword(h, "a long enough passwore"); ok {
		t.Fatal("wrong password accepted")
	}
	if _, err := HashPassword("short"); err != ErrWeakPassword {
		t.Fatalf("short password = %v", err)
	}
	for _, bad := range []string{"", "$2a$10$abc", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaA", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if ok, err := checkPassword(bad, "x"); ok || err == nil {
			t.Errorf("checkPassword(%q) = %v, %v", bad, ok, err)
		}
	}
}

func TestConsentForm(t *testing.T) {
	offered := []toolInfo{{Name: "list"}, {Name: "pay", Amount: true, Currency: "USD"}}
	tests := []struct {
		name    string
		form    url.Values
		want    string // describe(constraints)
		wantErr string
	}{
		{"tools only", url.Values{"tool": {"pay"}, "ttl": {"1h"}}, "tools pay", ""},
		{"all limits", url.Values{"tool": {"list", "pay"}, "ttl": {"24h"}, "max_amount": {"200"}, "currency": {"usd"},
			"budget": {"1000.50"}, "max_calls": {"5"}, "categories": {" Travel, meals ,"}, "day": {"mon", "fri"},
			"window_start": {"09:00"}, "window_end": {"17:00"}, "window_zone": {"Europe/Paris"}},
			"tools list, pay; max 200 USD per call; budget 1000.5 USD; at most 5 calls; categories meals, travel; window mon 09:00-17:00, fri 09:00-17:00 (Europe/Paris)", ""},
		{"no tool", url.Values{"ttl": {"1h"}}, "", "at least one tool"},
		{"foreign tool", url.Values{"tool": {"delete_all"}, "ttl": {"1h"}}, "", "not among"},
		{"bad amount", url.Values{"tool": {"pay"}, "ttl": {"1h"}, "max_amount": {"1e3"}}, "", "non-negative number"},
		{"bad currency", url.Values{"tool": {"pay"}, "ttl": {"1h"}, "max_amount": {"1"}, "currency": {"dollars"}}, "", "ISO 4217"},
		{"bad calls", url.Values{"tool": {"pay"}, "ttl": {"1h"}, "max_calls": {"0"}}, "", "positive"},
		{"bad zone", url.Values{"tool": {"pay"}, "ttl": {"1h"}, "window_start": {"09:00"}, "window_end": {"10:00"}, "window_zone": {"Mars/Base"}}, "", "time window"},
		{"bad day", url.Values{"tool": {"pay"}, "ttl": {"1h"}, "day": {"funday"}}, "", "unknown day"},
		{"ttl too long", url.Values{"tool": {"pay"}, "ttl": {"720h"}}, "", "at most"},
		{"no ttl", url.Values{"tool": {"pay"}}, "", "how long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := readConsentForm(tt.form).constraints(offered, 7*24*time.Hour)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(c); got != tt.want {
				t.Errorf("constraints = %q\nwant          %q", got, tt.want)
			}
		})
	}
}

func FuzzAuthorizationDetails(f *testing.F) {
	f.Add(`[{"type":"legant_delegation","actions":["a"],"max_amount":{"value":"5","currency":"USD"}}]`)
	f.Add(`[{"type":"legant_delegation"},{"type":"legant_delegation"}]`)
	f.Add(`[]`)
	f.Add(`{"type":"legant_delegation"}`)
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := parseAuthorizationDetails(raw)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not an *Error", err)
			}
			return
		}
		if _, err := c.Normalize(); err != nil {
			t.Fatalf("accepted constraints do not normalize: %v", err)
		}
	})
}

func FuzzRedirectURI(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1/cb", "https://a.example/x?y=1", "javascript:alert(1)", "http://[::1]:1/", "cursor://anysphere.cursor-mcp/oauth/callback"} {
		f.Add(s, s)
	}
	s := &Server{opts: Options{PrivateUseRedirectURIs: DefaultPrivateUseRedirectURIs}}
	f.Fuzz(func(t *testing.T, registered, requested string) {
		if s.validRedirect(registered) != nil {
			return
		}
		if !matchRedirect([]string{registered}, requested) {
			return
		}
		// A match is either exact or a loopback http URI differing only in port.
		if requested == registered {
			return
		}
		u, err := url.Parse(requested)
		if err != nil || u.Scheme != "http" || !isLoopbackHost(u.Hostname()) {
			t.Fatalf("%q matched %q", requested, registered)
		}
	})
}
