package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/examples/killswitch/slowtool"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/gateway/admin"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/upstreams"
)

// demo is everything the demo runs, in this process, on loopback: the slow
// upstream, the store, the gateway and its admin API. It is wired as `legant
// gateway` wires them (cmd/legant/serve.go), reduced to what the demo needs.
type demo struct {
	up                               *slowtool.Upstream
	st                               *store.Store
	gw                               *gateway.Gateway
	issuerKey                        *authority.Key
	gatewayURL, adminURL, adminToken string
	closers                          []func()
}

const (
	demoIssuer = "https://issuer.demo"
	demoSlug   = "work"
)

func (d *demo) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// serve serves h on a loopback port and returns its base URL.
func (d *demo) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	d.closers = append(d.closers, func() { srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

// start assembles the demo; dataDir holds the SQLite store.
func start(ctx context.Context, dataDir string) (*demo, error) {
	d := &demo{up: slowtool.New(slowtool.Options{})}
	upURL, err := d.serve(d.up)
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	if d.st, err = store.Open(ctx, store.Options{DataDir: dataDir, KeyEncryptionSecret: secret, Issuer: demoIssuer}); err != nil {
		return d, err
	}
	d.closers = append(d.closers, func() { d.st.Close() })
	if err := d.startGateway(upURL); err != nil {
		return d, err
	}
	// What `legant gateway` does with every revocation, from any replica:
	// kill what it covers.
	d.closers = append(d.closers, d.st.Revocations().Subscribe(func(r store.Revocation) {
		go d.gw.Kill(context.Background(), admin.SelectorFor(r), "revoked: "+r.Reason)
	}))
	d.adminToken = rand.Text() + rand.Text()
	srv, err := admin.New(admin.Options{Store: d.st, Gateway: d.gw, Token: d.adminToken, Logger: quiet()})
	if err != nil {
		return d, err
	}
	d.adminURL, err = d.serve(srv)
	return d, err
}

func (d *demo) startGateway(upURL string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.gatewayURL = "http://" + ln.Addr().String()
	yaml := fmt.Sprintf("version: 1\nupstreams:\n  - slug: %s\n    transport: streamable-http\n    url: %s\n    tools:\n      slow:\n        scope: work:run\n", demoSlug, upURL)
	reg, err := upstreams.Parse("demo.yaml", []byte(yaml), upstreams.Options{PublicURL: d.gatewayURL})
	if err != nil {
		return err
	}
	if d.issuerKey, err = authority.GenerateEd25519Key("demo-issuer"); err != nil {
		return err
	}
	keys := authority.NewKeySet()
	keys.Add(d.issuerKey, time.Time{})
	signer, err := authority.GenerateEd25519Key("demo-gateway")
	if err != nil {
		return err
	}
	d.gw, err = gateway.New(gateway.Options{Registry: func() *upstreams.Registry { return reg }, Issuer: demoIssuer,
		Keys: keys, Signer: signer, PublicURL: d.gatewayURL, Revocations: d.st.Revocations(), Ledger: d.st,
		Recorder: d.st.Audit(), Sessions: admin.Sessions{Store: d.st}, Logger: quiet()})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d.gw, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	d.closers = append(d.closers, func() { d.gw.Close(); srv.Close() })
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
