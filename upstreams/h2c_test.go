package upstreams

import (
	"strings"
	"testing"
)

func TestH2C(t *testing.T) {
	tests := []struct {
		name, fields string
		want         bool
		err          string
	}{
		{"http url", "    url: http://127.0.0.1:9000/mcp\n    h2c: true\n", true, ""},
		{"off", "    url: http://127.0.0.1:9000/mcp\n    h2c: false\n", false, ""},
		{"absent", "    url: http://127.0.0.1:9000/mcp\n", false, ""},
		{"https url", "    url: https://mcp.example/mcp\n    h2c: true\n", false, "r.yaml:5:10: upstreams[0].h2c: is only for an http:// url"},
		{"stdio", "    transport: stdio\n    command: [srv]\n    h2c: true\n", false, "r.yaml:6:10: upstreams[0].h2c: is only for transport streamable-http"},
		{"not a bool", "    url: http://127.0.0.1:9000/mcp\n    h2c: yes-please\n", false, "upstreams[0].h2c: must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "version: 1\nupstreams:\n  - slug: a\n" + tt.fields + "    tools:\n      t: {scope: s}\n"
			reg, err := Parse("r.yaml", []byte(doc), Options{PublicURL: "https://gw.example"})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			up, _ := reg.Lookup("a")
			if up.H2C != tt.want {
				t.Fatalf("H2C = %v, want %v", up.H2C, tt.want)
			}
		})
	}
}
