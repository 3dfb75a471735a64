// Command stdioserver is the MCP server the bridge's tests run as a child
// process: package testserver's tools over newline-delimited JSON-RPC on
// stdin and stdout. With -linger it does not exit when stdin closes, as a
// misbehaving server would, so that tests see it killed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/gateway/bridge/internal/testserver"
)

func main() {
	linger := flag.Bool("linger", false, "keep running after stdin closes, ignoring SIGTERM")
	flag.Parse()
	fmt.Fprintln(os.Stderr, "stdioserver: started")
	err := testserver.New().Run(context.Background(), &mcp.StdioTransport{})
	if *linger {
		signal.Ignore(syscall.SIGTERM)
		for {
			time.Sleep(time.Hour)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stdioserver:", err)
		os.Exit(1)
	}
}
