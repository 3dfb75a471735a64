package sdk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
)

// exampleIssuer stands in for Legant's issuer in the examples: it publishes
// its JWKS at /.well-known/jwks.json and a signed revocation feed at
// /.well-known/revoked, exactly the two documents the SDK reads.
type exampleIssuer struct {
	*httptest.Server
	key *authority.Key

	mu      sync.Mutex
	version int64
	revoked []revfeed.Entry
}

func startIssuer() *exampleIssuer {
	key, err := authority.GenerateEd25519Key("example-key")
	if err != nil {
		log.Fatal(err)
	}
	ks := authority.NewKeySet()
	ks.Add(key, time.Time{})
	e := &exampleIssuer{key: key}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/jwks.json":
			b, _ := ks.JWKS(time.Now())
			w.Write(b)
		case "/.well-known/revoked":
			e.mu.Lock()
			defer e.mu.Unlock()
			now := time.Now()
			tok, _ := revfeed.Sign(key, revfeed.NewFeed(e.URL, e.version, now, now.Add(5*time.Minute), e.revoked))
			io.WriteString(w, tok)
		default:
			http.NotFound(w, r)
		}
	}))
	return e
}

// token mints alice's delegation to planner: submit_expense up to 500 USD.
func (e *exampleIssuer) token() string { return e.tokenID("tok-1") }

func (e *exampleIssuer) tokenID(jti string) string {
	now := time.Now()
	tok, err := authority.Sign(e.key, &authority.Claims{
		Issuer: e.URL, Subject: "alice", Audience: []string{"https://api.example/expenses"},
		IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute), ID: jti, DelegationID: "dlg-1",
		Scopes: []string{"expenses:write"}, Actor: authority.NewActor("planner"),
		Constraints: authority.Constraints{
			Tools: authority.Only("submit_expense"), Resources: authority.AnyOf(), Categories: authority.AnyOf(),
			MaxAmount: &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"},
			Budget:    &authority.Money{Value: authority.MustDecimal("800"), Currency: "USD"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	return tok
}

func (e *exampleIssuer) revokeAgent(agent string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.version++
	e.revoked = append(e.revoked, revfeed.Entry{Kind: revfeed.KindAgent, Value: agent})
}

func ExampleNewVerifier() {
	issuer := startIssuer()
	defer issuer.Close()

	ctx := context.Background()
	v, err := sdk.NewVerifier(ctx, issuer.URL, "https://api.example/expenses", &sdk.VerifierOptions{
		AllowHTTP:    true, // the example issuer listens on loopback; production issuers use https
		FeedInterval: 10 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	fmt.Println("feed version:", v.FeedStatus().Version, "error:", v.FeedStatus().Err)
	// Output: feed version: 0 error: <nil>
}

func ExampleVerifier_Verify() {
	issuer := startIssuer()
	defer issuer.Close()
	ctx := context.Background()
	v, err := sdk.NewVerifier(ctx, issuer.URL, "https://api.example/expenses", &sdk.VerifierOptions{AllowHTTP: true})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	token := issuer.token()
	claims, err := v.Verify(ctx, token)
	fmt.Println(claims.Provenance(), err)

	issuer.revokeAgent("planner")
	v.RefreshFeed(ctx) // the background poll would do it within FeedInterval
	_, err = v.Verify(ctx, token)
	fmt.Println(err)
	// Output:
	// user:alice → agent:planner <nil>
	// sdk: token revoked: agent planner revoked
}

func ExampleAuthorize() {
	issuer := startIssuer()
	defer issuer.Close()
	ctx := context.Background()
	v, err := sdk.NewVerifier(ctx, issuer.URL, "https://api.example/expenses", &sdk.VerifierOptions{AllowHTTP: true})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	claims, err := v.Verify(ctx, issuer.token())
	if err != nil {
		log.Fatal(err)
	}

	for _, amount := range []string{"300", "700"} {
		d := sdk.Authorize(claims, sdk.Action{Tool: "submit_expense", Scope: "expenses:write",
			Amount: amount, Currency: "USD"})
		if d.Allow {
			fmt.Println(amount, "allowed")
			continue
		}
		fmt.Println(amount, d.Reason, d.Message)
	}
	d := sdk.Authorize(claims, sdk.Action{Tool: "delete_all"})
	fmt.Println(d.RPCError().Code, d.RPCError().Message)
	// Output:
	// 300 allowed
	// 700 max_amount denied: amount 700 exceeds max_amount 500
	// -32030 denied: tool delete_all is not allowed by this token
}

func ExampleVerifier_Reserve() {
	issuer := startIssuer()
	defer issuer.Close()
	ctx := context.Background()
	v, err := sdk.NewVerifier(ctx, issuer.URL, "https://api.example/expenses", &sdk.VerifierOptions{AllowHTTP: true})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	claims, err := v.Verify(ctx, issuer.token())
	if err != nil {
		log.Fatal(err)
	}

	// The token's budget is 800 USD over the delegation's life.
	for _, amount := range []string{"500", "400", "300"} {
		d, hold := v.Reserve(ctx, claims, sdk.Action{Tool: "submit_expense", Amount: amount, Currency: "USD"})
		if !d.Allow {
			fmt.Println(amount, d.Message)
			continue
		}
		// … do the work; on success:
		hold.Settle(ctx)
		fmt.Println(amount, "spent")
	}
	// Output:
	// 500 spent
	// 400 denied: spending would reach 900, over budget 800
	// 300 spent
}

func ExampleVerifier_Middleware() {
	issuer := startIssuer()
	defer issuer.Close()
	v, err := sdk.NewVerifier(context.Background(), issuer.URL, "https://api.example/expenses",
		&sdk.VerifierOptions{AllowHTTP: true})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	api := v.Middleware(&sdk.MiddlewareOptions{
		Scope: "expenses:write",
		Action: func(r *http.Request) (sdk.Action, error) {
			return sdk.Action{Tool: "submit_expense", Amount: r.URL.Query().Get("amount"), Currency: "USD"}, nil
		},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := sdk.ClaimsFrom(r.Context())
		fmt.Fprintln(w, "expense submitted for", claims.Provenance())
	}))

	for _, c := range []struct{ token, amount string }{{issuer.token(), "300"}, {issuer.token(), "700"}, {"", "1"}} {
		req := httptest.NewRequest(http.MethodPost, "/expenses?amount="+c.amount, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		fmt.Println(strings.TrimSpace(fmt.Sprint(rec.Code, " ", rec.Header().Get("WWW-Authenticate"))))
		fmt.Print(rec.Body.String())
	}
	// Output:
	// 200
	// expense submitted for user:alice → agent:planner
	// 403 Bearer resource_metadata="https://api.example/.well-known/oauth-protected-resource/expenses", error="insufficient_scope", error_description="denied: amount 700 exceeds max_amount 500"
	// {"error":"insufficient_scope","error_description":"denied: amount 700 exceeds max_amount 500","decision":{"reason":"max_amount","limit":"500","value":"700"}}
	// 401 Bearer resource_metadata="https://api.example/.well-known/oauth-protected-resource/expenses", scope="expenses:write"
	// {"error":"invalid_request","error_description":"a bearer token is required"}
}

func ExampleClaimsFrom() {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, ok := sdk.ClaimsFrom(r.Context())
		if !ok { // not behind Verifier.Middleware
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		fmt.Fprintln(w, claims.Provenance())
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	claims := &authority.Claims{Subject: "alice", Actor: authority.NewActor("planner", "executor")}
	req = req.WithContext(sdk.ContextWithClaims(req.Context(), claims))
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	fmt.Print(rec.Body.String())
	// Output: user:alice → agent:planner → agent:executor
}

func ExampleVerifier_AuthorizeCall() {
	issuer := startIssuer()
	defer issuer.Close()
	ctx := context.Background()
	v, err := sdk.NewVerifier(ctx, issuer.URL, "https://api.example/expenses", &sdk.VerifierOptions{AllowHTTP: true})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	claims, err := v.Verify(ctx, issuer.token())
	if err != nil {
		log.Fatal(err)
	}

	// A tools/call as an MCP server receives it, with the tool's binding.
	binding := &policy.Binding{Tool: "submit_expense",
		Amount: &policy.AmountBinding{Value: policy.MustPointer("/amount"), Currency: "USD"}}
	for _, args := range []string{`{"amount":120.50}`, `{"amount":"120.50"}`, `{"amount":900}`} {
		d, hold := v.AuthorizeCall(ctx, claims, binding, policy.Call{Tool: "submit_expense", Arguments: json.RawMessage(args)})
		if !d.Allow {
			b, _ := json.Marshal(d.RPCError())
			fmt.Println(string(b))
			continue
		}
		hold.Settle(ctx) // the tool succeeded
		fmt.Println("allowed", d.Amount.Value)
	}
	// Output:
	// allowed 120.5
	// {"code":-32030,"message":"denied: argument /amount: string where a number is expected","data":{"reason":"invalid_argument","argument":"/amount","value":"\"120.50\""}}
	// {"code":-32030,"message":"denied: amount 900 exceeds max_amount 500","data":{"reason":"max_amount","limit":"500","value":"900"}}
}

func ExampleVerifier_FeedStatus() {
	issuer := startIssuer()
	defer issuer.Close()
	ctx := context.Background()
	v, err := sdk.NewVerifier(ctx, issuer.URL, "https://api.example/expenses", &sdk.VerifierOptions{
		AllowHTTP:        true,
		RequireFreshFeed: true, // fail closed: Verify fails with ErrFeedStale once the feed is older than MaxFeedAge
		MaxFeedAge:       time.Minute,
		OnFeed: func(s sdk.FeedStatus) {
			if s.Err != nil {
				log.Printf("revocation feed: %v", s.Err) // keep polling; the previous set stays
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	issuer.revokeAgent("rogue")
	if err := v.RefreshFeed(ctx); err != nil {
		log.Fatal(err)
	}
	st := v.FeedStatus()
	fmt.Println("version", st.Version, "entries", st.Entries, "fresh", v.FeedAge() < time.Minute)
	// Output: version 1 entries 1 fresh true
}
