//go:build snippet

// Command api is a net/http service that enforces Legant delegation tokens
// itself, offline: the SDK caches the issuer's keys and revocation feed.
// (Starter printed by `legant snippet go-nethttp`; docs/SDK.md explains it.)
//
//	go get github.com/openlegant/legant/sdk
//	LEGANT_ISSUER=https://legant.example RESOURCE=https://api.example/expenses go run .
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/openlegant/legant/sdk"
)

func main() {
	ctx := context.Background()
	// The issuer whose tokens you accept, and this API's resource identifier
	// (the audience tokens are minted for).
	v, err := sdk.NewVerifier(ctx, os.Getenv("LEGANT_ISSUER"), os.Getenv("RESOURCE"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	mux := http.NewServeMux()
	// RFC 9728 metadata, named by the WWW-Authenticate challenges.
	if md, err := url.Parse(v.ResourceMetadataURL()); err == nil && md.Path != "" {
		mux.Handle("GET "+md.Path, v.ProtectedResourceHandler("expenses:write"))
	}
	// Every request needs a valid, unrevoked token with scope expenses:write;
	// the middleware authorizes the Action (amount against max_amount and the
	// budget, category, time window) before the handler runs.
	protect := v.Middleware(&sdk.MiddlewareOptions{
		Scope: "expenses:write",
		Action: func(r *http.Request) (sdk.Action, error) {
			return sdk.Action{Tool: "submit_expense", Amount: r.FormValue("amount"), Currency: "USD",
				Category: r.FormValue("category")}, nil
		},
	})
	mux.Handle("POST /expenses", protect(http.HandlerFunc(submitExpense)))

	srv := &http.Server{Addr: "127.0.0.1:8081", Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("listening on %s", srv.Addr)
	log.Fatal(srv.ListenAndServe())
}

func submitExpense(w http.ResponseWriter, r *http.Request) {
	claims, _ := sdk.ClaimsFrom(r.Context())
	// claims.Provenance(): "user:alice → agent:planner → agent:executor".
	log.Printf("%s submits %s USD", claims.Provenance(), r.FormValue("amount"))
	fmt.Fprintf(w, "expense of %s USD accepted for %s\n", r.FormValue("amount"), claims.Subject)
}
