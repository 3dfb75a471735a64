package upstreams

import (
	"strings"
	"testing"
)

func TestParseDownstreamDPoP(t *testing.T) {
	parse := func(src string) (*Upstream, error) {
		reg, err := Parse("r.yaml", []byte(src), Options{PublicURL: "https://gw.example"})
		if err != nil {
			return nil, err
		}
		up, _ := reg.Lookup("a")
		return up, nil
	}
	for src, want := range map[string]bool{
		httpHead:                                  false,
		httpHead + "    downstream_dpop: true\n":  true,
		httpHead + "    downstream_dpop: false\n": false,
		httpHead + "    auth: {kind: legant}\n    downstream_dpop: true\n": true,
	} {
		up, err := parse(src)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if up.DownstreamDPoP != want {
			t.Errorf("%q: DownstreamDPoP %v, want %v", src, up.DownstreamDPoP, want)
		}
	}
	for src, msg := range map[string]string{
		httpHead + "    downstream_dpop: yes please\n":                                                           "upstreams[0].downstream_dpop: must be true or false",
		stdioHead + "    downstream_dpop: true\n":                                                                "upstreams[0].downstream_dpop: is only for transport streamable-http and sse",
		httpHead + "    auth: {kind: static, header: {name: X-K, value: {env: K}}}\n    downstream_dpop: true\n": "upstreams[0].downstream_dpop: is only for auth kind legant",
	} {
		if _, err := parse(src); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want %q", src, err, msg)
		}
	}
}
