package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/openlegant/legant/gateway/admin"
	"github.com/openlegant/legant/issuer/store"
)

// envAdminURL is the environment variable the admin client flags fall back to.
const envAdminURL = "LEGANT_ADMIN_URL"

// startAdmin serves the admin API (and its console, /console) of w on cfg.adminListen until stop is
// called; an empty address disables it (stop is then a no-op). The admin
// token is read from cfg.adminTokenFile (default <data-dir>/admin-token),
// generated there on first start.
func startAdmin(cfg serveConfig, w *wiring, errOut io.Writer) (addr string, stop func(), err error) {
	if cfg.adminListen == "" {
		return "", func() {}, nil
	}
	path := cfg.adminTokenFile
	if path == "" {
		path = filepath.Join(cfg.store.dataDir, admin.TokenFile)
	}
	tok, created, err := admin.EnsureToken(path)
	if err != nil {
		return "", nil, err
	}
	if created {
		fmt.Fprintf(errOut, "legant: generated the admin API token in %s (mode 0600)\n", path)
	}
	srv, err := admin.New(admin.Options{Store: w.st, Gateway: w.gw, Token: tok, Logger: cfg.logger, Accounts: w.accounts})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", cfg.adminListen)
	if err != nil {
		return "", nil, fmt.Errorf("admin API: %w (--admin-listen picks another address, \"\" disables it)", err)
	}
	hs := &http.Server{Handler: w.adminHandler(srv), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	hs.RegisterOnShutdown(srv.Close) // console streams end instead of holding Shutdown
	go hs.Serve(ln)
	cfg.logger.Info("legant admin API serving", "addr", ln.Addr().String(), "token_file", path)
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	}, nil
}

// adminFlags are the flags of commands that call the admin API.
type adminFlags struct {
	url       string
	tokenFile string
}

func (f *adminFlags) register(fs *pflag.FlagSet) {
	def := os.Getenv(envAdminURL)
	if def == "" {
		def = admin.DefaultURL
	}
	fs.StringVar(&f.url, "admin", def, "admin API URL (env "+envAdminURL+")")
	fs.StringVar(&f.tokenFile, "admin-token-file", filepath.Join(store.DefaultDataDir, admin.TokenFile),
		"file holding the admin token (written by `legant gateway` on first start)")
}

func (f *adminFlags) client() (*admin.Client, error) {
	tok, err := admin.ReadToken(f.tokenFile)
	if err != nil {
		return nil, err
	}
	return &admin.Client{BaseURL: f.url, Token: tok}, nil
}

// defaultActor names who runs the command: user@host.
func defaultActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name
}

// adminError turns an admin API error into a message for the terminal.
func adminError(err error) error {
	var e *admin.Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		return fmt.Errorf("%w (check --admin-token-file: the token `legant gateway` wrote in its data directory)", err)
	}
	return err
}
