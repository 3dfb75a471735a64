package gateway

// DNS-rebinding protection at the edge: the Host header (checked by ServeHTTP
// for every path) and a browser's Origin (checked by serveMCP).

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

func allowLists(opts Options) (hosts, origins map[string]bool) {
	hosts, origins = map[string]bool{}, map[string]bool{}
	for _, h := range opts.AllowedHosts {
		hosts[strings.ToLower(h)] = true
	}
	for _, o := range opts.AllowedOrigins {
		origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	if u, err := url.Parse(opts.PublicURL); err == nil && u.Host != "" {
		if opts.AllowedHosts == nil {
			hosts[strings.ToLower(u.Host)] = true
			hosts[strings.ToLower(u.Hostname())] = true
		}
		origins[strings.ToLower(u.Scheme+"://"+u.Host)] = true
	}
	return hosts, origins
}

func (g *Gateway) hostAllowed(host string) bool {
	host = strings.ToLower(host)
	if g.hosts[host] {
		return true
	}
	return g.opts.AllowedHosts == nil && isLoopback(host)
}

// isLoopback reports whether host (host or host:port) names this machine.
func isLoopback(host string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	if name == "localhost" {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// originAllowed implements DNS-rebinding protection for browser requests: the
// Origin must be listed, be PublicURL's, or be a page of this machine
// (loopback), which a rebinding attack cannot claim.
func (g *Gateway) originAllowed(r *http.Request) bool {
	origin := strings.ToLower(r.Header.Get("Origin"))
	if origin == "" {
		return true // not a browser request
	}
	if g.origins[origin] {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && isLoopback(u.Host)
}
