package bench

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openlegant/legant/authority"
)

// Idle-session measurement settings.
const (
	sessionParallel = 32  // sessions being opened at once
	sessionWarmup   = 16  // opened and closed before RSS is read
	fdsPerSession   = 2   // harness: its client stream, and the upstream's end of the gateway's stream
	fdsReserve      = 256 // descriptors kept for everything else
)

// sessionsConfig says what the idle-session measurement runs against.
type sessionsConfig struct {
	binary  string
	dir     string
	keysDir string
	key     *authority.Key
	n       int
	settle  time.Duration // let the child's allocations settle before reading RSS
	noFile  uint64        // RLIMIT_NOFILE in force
	log     func(format string, args ...any)
	h2c     bool // the upstream speaks h2c too and the registry says h2c: true
	// clientH2C: the sessions' clients speak HTTP/2 cleartext to the gateway
	// (prior knowledge), sharing connections; otherwise HTTP/1.1, one
	// connection per open GET stream.
	clientH2C bool
	// profileDir, when set: the child writes a CPU profile of its run there
	// (sessions-http1.pprof, sessions-h2c.pprof) and, with its sessions
	// open, a heap profile (sessions-http1.heap, sessions-h2c.heap).
	profileDir string
}

// Client protocols of the idle-session measurement.
const (
	ProtoHTTP1 = "HTTP/1.1"
	ProtoH2C   = "h2c"
)

// measureSessions opens n sessions each holding a GET SSE stream through a
// fresh child gateway (SQLite store), and then through a fresh bare proxy
// child (`legant bench-proxy`, the baseline), each in front of an upstream of
// its own, with the same clients; it reports each child's RSS per session
// and how long opening took.
func measureSessions(ctx context.Context, cfg sessionsConfig) (*Sessions, []string, error) {
	res := &Sessions{Requested: cfg.n, NoFile: cfg.noFile, Upstream: ProtoHTTP1, Client: ProtoHTTP1}
	if cfg.h2c {
		res.Upstream = ProtoH2C
	}
	if cfg.clientH2C {
		res.Client = ProtoH2C
	}
	// HTTP/1.1 clients hold a descriptor per open stream at both ends; h2c
	// clients share a few connections, so the limit does not bind.
	if fit := int((cfg.noFile - min(cfg.noFile, fdsReserve)) / fdsPerSession); fit < cfg.n && !cfg.clientH2C {
		cfg.n = fit
		res.FirstError = fmt.Sprintf("RLIMIT_NOFILE %d allows %d sessions", cfg.noFile, fit)
	}
	gw, gwCmd, err := measureIdle(ctx, cfg, false)
	if err != nil {
		return nil, nil, err
	}
	res.IdleRun = *gw
	if res.FirstError == "" {
		res.FirstError = gw.FirstError
	}
	px, pxCmd, err := measureIdle(ctx, cfg, true)
	if err != nil {
		return nil, nil, err
	}
	res.Proxy = px
	return res, []string{gwCmd, pxCmd}, nil
}

// measureIdle starts an upstream and a fresh child — a gateway, or with
// proxy the bare proxy — opens cfg.n sessions through it, each with a GET SSE
// stream, reads the child's RSS with them open, and closes them.
func measureIdle(ctx context.Context, cfg sessionsConfig, proxy bool) (*IdleRun, string, error) {
	var protocols *http.Protocols // nil: HTTP/1.1
	if cfg.h2c {
		protocols = new(http.Protocols)
		protocols.SetHTTP1(true)
		protocols.SetUnencryptedHTTP2(true)
	}
	up, err := listenProtocols(UpstreamHandler(), protocols)
	if err != nil {
		return nil, "", err
	}
	defer up.close()
	name := "sessions-http1"
	if cfg.clientH2C {
		name = "sessions-h2c"
	}
	if proxy {
		name = "proxy-" + name
	}
	heap := ""
	if cfg.profileDir != "" {
		heap = filepath.Join(cfg.profileDir, name+".heap")
	}
	child, err := startChild(ctx, childConfig{binary: cfg.binary, dir: filepath.Join(cfg.dir, "child-"+name),
		keysDir: cfg.keysDir, upstreamURL: up.url, h2c: cfg.h2c, proxy: proxy,
		profile: profilePath(cfg.profileDir, name), memprofile: heap})
	if err != nil {
		return nil, "", fmt.Errorf("idle sessions: %w", err)
	}
	defer child.stop()
	endpoint := child.url + "/mcp/" + SlugEcho
	if proxy {
		endpoint = child.url + "/" + SlugEcho // the token goes along, unread
	}
	tok, err := Token(cfg.key, TokenOptions{Audience: audience(child.url, SlugEcho)}, time.Now())
	if err != nil {
		return nil, "", err
	}
	hc := loadClient(sessionParallel)
	if cfg.clientH2C {
		hc = h2cClient()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // closes every stream
	warm := openSessions(ctx, hc, endpoint, tok, sessionWarmup)
	warm.closeAll(ctx)
	if warm.err != nil {
		return nil, "", fmt.Errorf("idle sessions: %s: warm-up: %w", name, warm.err)
	}
	time.Sleep(cfg.settle)
	res := &IdleRun{}
	if res.Before, err = child.memory(); err != nil {
		return nil, "", err
	}
	if heap != "" { // after the RSS reading: the profile's collection would lower it
		if res.RuntimeBefore, err = child.runtimeMem(heap); err != nil {
			return nil, "", fmt.Errorf("idle sessions: %w", err)
		}
	}
	start, cpu0, own0 := time.Now(), child.cpu(), processCPU()
	open := openSessions(ctx, hc, endpoint, tok, cfg.n)
	res.OpenTook = time.Since(start)
	res.OpenCPU, res.HarnessCPU = child.cpu()-cpu0, processCPU()-own0
	res.Opened = len(open.streams)
	if open.err != nil {
		res.FirstError = open.err.Error()
	}
	through := "gateway"
	if proxy {
		through = "bare proxy"
	}
	cfg.log("idle sessions: %d open through the %s in %s; settling", res.Opened, through, res.OpenTook.Round(time.Millisecond))
	time.Sleep(cfg.settle)
	if res.After, err = child.memory(); err != nil {
		return nil, "", err
	}
	if res.ChildFDs, err = procFDs(child.pid()); err != nil {
		return nil, "", err
	}
	if heap != "" { // after the RSS reading: the profile's GC would lower it
		if res.RuntimeAfter, err = child.runtimeMem(heap); err != nil {
			return nil, "", fmt.Errorf("idle sessions: %w", err)
		}
	}
	if res.Opened > 0 {
		res.PerSession = float64(res.After.RSS-res.Before.RSS) / float64(res.Opened)
	}
	return res, child.command(), nil
}

// h2cClient speaks HTTP/2 cleartext with prior knowledge: every session's
// requests and GET stream share a few connections.
func h2cClient() *http.Client {
	t := loadClient(sessionParallel).Transport.(*http.Transport)
	t.Protocols = new(http.Protocols)
	t.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: t}
}

// openStreams is the sessions opened so far.
type openStreams struct {
	mu      sync.Mutex
	clients []*Client
	streams []*http.Response
	err     error // the first failure; opening stops at it
}

// openSessions opens n sessions, sessionParallel at a time, each with a GET
// SSE stream left open. It stops at the first failure.
func openSessions(ctx context.Context, hc *http.Client, endpoint, token string, n int) *openStreams {
	o := &openStreams{}
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(sessionParallel, n) {
		wg.Go(func() {
			for int(next.Add(1)) <= n && !failed.Load() {
				c := NewClient(hc, endpoint, token)
				resp, err := c.openSession(ctx)
				o.mu.Lock()
				if err != nil {
					failed.Store(true)
					if o.err == nil {
						o.err = err
					}
				} else {
					o.clients = append(o.clients, c)
					o.streams = append(o.streams, resp)
				}
				o.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return o
}

// closeAll closes the streams and ends the sessions.
func (o *openStreams) closeAll(ctx context.Context) {
	for _, r := range o.streams {
		r.Body.Close()
	}
	for _, c := range o.clients {
		c.Close(ctx)
	}
}

// openSession initializes a session and opens its GET SSE stream, returning
// once the stream's headers have arrived.
func (c *Client) openSession(ctx context.Context) (*http.Response, error) {
	if err := c.Initialize(ctx); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint, nil)
	if err != nil {
		return nil, err
	}
	c.setHeaders(req.Header)
	req.Header["Accept"] = []string{"text/event-stream"}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET stream: %w", err)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		return nil, fmt.Errorf("GET stream: status %d %s: %s", resp.StatusCode, mt, b)
	}
	return resp, nil
}
