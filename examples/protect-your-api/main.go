// Command protect-your-api shows an API and an MCP server enforcing Legant
// delegation tokens themselves with the Go SDK, without the gateway and
// without calling the issuer per request. run.sh drives it end to end:
//
//	protect-your-api jwks     --keys DIR --out jwks.json
//	protect-your-api feed     --keys DIR --issuer URL --out revoked.jwt [--revoke-agent SUB] [--revoke-user SUB] [--revoke-jti ID]
//	protect-your-api serve    --issuer URL --jwks jwks.json --feed revoked.jwt [--listen ADDR] [--addr-file FILE]
//	protect-your-api mcp-call --url URL --token TOKEN --tool NAME [--args JSON]
//
// jwks and feed stand in for a running issuer: they write the two documents
// a resource server reads (normally fetched from /.well-known/jwks.json and
// /.well-known/revoked), signed with the key directory `legant keys init`
// made.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/openlegant/legant/authority/revfeed"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: protect-your-api jwks|feed|serve|mcp-call [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1], os.Args[2:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "protect-your-api:", err)
		os.Exit(1)
	}
}

// run executes one command.
func run(ctx context.Context, cmd string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	keys := fs.String("keys", ".legant/keys", "issuer key directory (legant keys init)")
	issuer := fs.String("issuer", "", "issuer URL: the iss of the tokens")
	outFile := fs.String("out", "", "file to write")
	var revoke []revfeed.Entry
	for flagName, kind := range map[string]revfeed.Kind{"revoke-agent": revfeed.KindAgent,
		"revoke-user": revfeed.KindUser, "revoke-jti": revfeed.KindToken, "revoke-delegation": revfeed.KindDelegation} {
		fs.Func(flagName, "revoke this "+string(kind)+" (repeatable)", func(v string) error {
			revoke = append(revoke, revfeed.Entry{Kind: kind, Value: v})
			return nil
		})
	}
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime of the signed feed")
	jwks := fs.String("jwks", "jwks.json", "JWKS file")
	feed := fs.String("feed", "revoked.jwt", "signed revocation feed file")
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve on")
	addrFile := fs.String("addr-file", "", "write the bound address to this file once serving")
	interval := fs.Duration("feed-interval", time.Second, "how often the feed file is re-read")
	url := fs.String("url", "", "MCP endpoint")
	token := fs.String("token", "", "bearer token")
	tool := fs.String("tool", "", "tool to call")
	toolArgs := fs.String("args", "{}", "tool arguments (JSON object)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch cmd {
	case "jwks":
		return writeJWKS(*keys, *outFile, time.Now())
	case "feed":
		f, err := writeFeed(*keys, *issuer, *outFile, revoke, *ttl, time.Now())
		if err == nil {
			fmt.Fprintf(out, "feed version %d: %d revoked\n", f.Version, len(f.Entries()))
		}
		return err
	case "serve":
		return serve(ctx, appConfig{issuer: *issuer, jwksFile: *jwks, feedFile: *feed, feedInterval: *interval},
			*listen, *addrFile, out)
	case "mcp-call":
		text, err := mcpCall(ctx, *url, *token, *tool, *toolArgs)
		if err == nil {
			fmt.Fprintln(out, text)
		}
		return err
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// serve runs the protected service until ctx ends.
func serve(ctx context.Context, cfg appConfig, listen, addrFile string, out io.Writer) error {
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(out, "serving the expenses API at http://%s/expenses and MCP at http://%s/mcp\n", ln.Addr(), ln.Addr())
	if addrFile != "" { // written whole (rename), so a script polling for it never reads half
		if err := os.WriteFile(addrFile+".tmp", []byte(ln.Addr().String()), 0o644); err != nil {
			return err
		}
		if err := os.Rename(addrFile+".tmp", addrFile); err != nil {
			return err
		}
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
