package authority_test

import (
	"testing"

	"github.com/openlegant/legant/authority"
)

func TestCanonicalResource(t *testing.T) {
	tests := []struct {
		in, want string // want "" = error
	}{
		{"https://gw.example/mcp/expenses", "https://gw.example/mcp/expenses"},
		{"HTTPS://GW.Example:443/mcp/expenses", "https://gw.example/mcp/expenses"},
		{"http://gw.example:80/a", "http://gw.example/a"},
		{"http://gw.example:443/a", "http://gw.example:443/a"},
		{"https://gw.example:8443/a/", "https://gw.example:8443/a"},
		{"https://gw.example/a/./b/../c", "https://gw.example/a/c"},
		{"https://gw.example/", "https://gw.example"},
		{"https://gw.example", "https://gw.example"},
		{"https://gw.example/a?x=1", "https://gw.example/a?x=1"},
		{"https://gw.example/A%2Fb", "https://gw.example/A%2Fb"},
		{"https://[::1]:443/a", "https://[::1]/a"},
		{"https://[::1]:8443/a", "https://[::1]:8443/a"},
		{"  https://gw.example/a  ", "https://gw.example/a"},
		{"urn:legant:expenses", "urn:legant:expenses"},
		{" expenses ", "expenses"},
		{"https://gw.example/a#frag", ""},
		{"https://user:pw@gw.example/a", ""},
		{"https:///nohost", ""},
		{"https://gw.example:99999999/x", ""},
		{"", ""},
		{"   ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := authority.CanonicalResource(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("CanonicalResource(%q) = %q, want error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CanonicalResource(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			again, err := authority.CanonicalResource(got)
			if err != nil || again != got {
				t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
			}
		})
	}
}

func FuzzCanonicalResource(f *testing.F) {
	for _, s := range []string{"https://gw.example/a/../b", "HTTP://X:80/", "urn:x", "https://[::1]:443/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := authority.CanonicalResource(s)
		if err != nil {
			return
		}
		again, err := authority.CanonicalResource(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
	})
}
