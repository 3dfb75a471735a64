package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/gateway/admin"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// TestApprovalsAcrossReplicas: two gateways share one store (two Store
// handles on one database). A call refused pending approval on replica A is
// asked, by elicitation, of bob's inbox on replica B; once bob approves, the
// call runs once through replica B, a replay through A needs a new approval,
// a kill on A cancels that request for B too, and the answer of an approver
// whose token was revoked meanwhile counts for nothing. The upstream counts
// what it ran.
func TestApprovalsAcrossReplicas(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		var ran atomic.Int64
		up := mcp.NewServer(&mcp.Implementation{Name: "bank", Version: "1"}, nil)
		mcp.AddTool(up, &mcp.Tool{Name: "wire"}, func(context.Context, *mcp.CallToolRequest, struct {
			Amount float64 `json:"amount"`
		}) (*mcp.CallToolResult, any, error) {
			ran.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sent"}}}, nil, nil
		})
		upSrv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
		t.Cleanup(upSrv.Close)

		const public = "http://gw.test"
		reg, err := upstreams.Parse("r.yaml", []byte(`version: 1
upstreams:
  - slug: bank
    url: `+upSrv.URL+`
    tools:
      wire: {scope: bank:wire, approval: {from: [bob]}}
`), upstreams.Options{PublicURL: public})
		if err != nil {
			t.Fatal(err)
		}
		key, _ := authority.GenerateEd25519Key("issuer")
		keys := authority.NewKeySet()
		keys.Add(key, time.Time{})
		opts := b.Options(t)
		var stB *store.Store
		replica := func() (*gateway.Gateway, string) {
			st := storetest.Open(t, opts)
			stB = st // the last one opened
			gwKey, _ := authority.GenerateEd25519Key("gw")
			gw, err := gateway.New(gateway.Options{Registry: func() *upstreams.Registry { return reg }, Issuer: storetest.Issuer,
				Keys: keys, Signer: gwKey, PublicURL: public, Approvals: admin.Approvals{Store: st}, Logger: quiet(),
				Revocations: st.Revocations(), Recorder: st.Audit()})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(gw)
			t.Cleanup(func() { srv.Close(); gw.Close() })
			return gw, srv.URL
		}
		gwA, urlA := replica()
		_, urlB := replica()

		mint := func(sub, aud, jti string, agents ...string) string {
			now := time.Now()
			tok, err := authority.Sign(key, &authority.Claims{Issuer: storetest.Issuer, Subject: sub, Audience: []string{aud},
				IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: jti, Scopes: []string{"bank:wire"},
				Actor: authority.NewActor(agents...), Constraints: authority.Unrestricted()})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		connect := func(base, path, tok string, o *mcp.ClientOptions) *mcp.ClientSession {
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, o).Connect(ctx,
				&mcp.StreamableClientTransport{Endpoint: base + path, HTTPClient: &http.Client{Transport: bearer(tok)}, MaxRetries: -1}, nil)
			if err != nil {
				t.Fatalf("connect %s%s: %v", base, path, err)
			}
			t.Cleanup(func() { cs.Close() })
			return cs
		}
		asked := make(chan string, 4)
		answer := make(chan *mcp.ElicitResult, 4)
		done := make(chan struct{})
		t.Cleanup(func() { close(done) })
		bob := connect(urlB, gateway.ApprovalsPath, mint("bob", public+gateway.ApprovalsPath, "jti-bob", "approvals-app"),
			&mcp.ClientOptions{ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				asked <- req.Params.Message
				select {
				case res := <-answer:
					return res, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-done:
					return nil, errors.New("test over")
				}
			}})
		tok := mint("alice", public+"/mcp/bank", "jti-alice", "treasurer")
		call := func(cs *mcp.ClientSession) (string, string) {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "wire", Arguments: map[string]any{"amount": 9000}})
			if err == nil {
				return "allow", ""
			}
			var werr *jsonrpc.Error
			if !errors.As(err, &werr) {
				t.Fatalf("call: %v", err)
			}
			var d policy.RPCErrorData
			json.Unmarshal(werr.Data, &d)
			return string(d.Reason), d.Approval
		}

		onA := connect(urlA, "/mcp/bank", tok, nil)
		got, id := call(onA)
		if got != "approval_required" || ran.Load() != 0 {
			t.Fatalf("first call on A: %s, upstream ran %d", got, ran.Load())
		}
		select { // bob's inbox on B learns of it by polling the store
		case <-asked:
		case <-time.After(10 * time.Second):
			t.Fatal("bob, on replica B, was not asked")
		}
		answer <- &mcp.ElicitResult{Action: "accept", Content: map[string]any{"approve": true}}
		onB := connect(urlB, "/mcp/bank", tok, nil)
		deadline := time.Now().Add(10 * time.Second)
		for got, _ = call(onB); got != "allow" && time.Now().Before(deadline); got, _ = call(onB) {
			// bob's answer is recorded as the elicitation returns
		}
		if got != "allow" || ran.Load() != 1 {
			t.Fatalf("the approved call on B: %s, upstream ran %d", got, ran.Load())
		}
		got, id2 := call(onA)
		if got != "approval_required" || id2 == id || ran.Load() != 1 {
			t.Fatalf("replay on A: %s %s (first %s), upstream ran %d", got, id2, id, ran.Load())
		}
		<-asked // bob is asked about the replay's request
		gwA.Kill(ctx, gateway.Selector{TokenID: "jti-alice"}, "stolen")
		_, err = bob.CallTool(ctx, &mcp.CallToolParams{Name: "approve", Arguments: map[string]any{"id": id2}})
		var werr *jsonrpc.Error
		var d policy.RPCErrorData
		if errors.As(err, &werr) {
			json.Unmarshal(werr.Data, &d)
		}
		if d.Reason != policy.ReasonApprovalNotFound {
			t.Fatalf("approving on B a request cancelled on A: %v", err)
		}

		// bob's token is revoked while he is being asked: his answer never
		// counts (refused at the inbox's edge), the request stays pending.
		onA2 := connect(urlA, "/mcp/bank", mint("alice", public+"/mcp/bank", "jti-alice-2", "treasurer"), nil)
		got, id3 := call(onA2)
		if got != "approval_required" {
			t.Fatalf("a call under a new token: %s", got)
		}
		<-asked
		if _, err := stB.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindToken, Value: "jti-bob", Reason: "left the company"}); err != nil {
			t.Fatal(err)
		}
		answer <- &mcp.ElicitResult{Action: "accept", Content: map[string]any{"approve": true}}
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for { // until the answer reached the edge and was refused
			evs, err := stB.Audit().Query(wait, store.AuditFilter{User: "bob", Kind: audit.KindEdge401})
			if err != nil {
				t.Fatalf("bob's answer was not refused at the edge: %v", err)
			}
			if len(evs) > 0 {
				break
			}
			select {
			case <-wait.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
		all, err := stB.Approvals(ctx, time.Now())
		if err != nil || len(all) != 1 || all[0].ID != id3 || all[0].State != store.ApprovalPending {
			t.Fatalf("after a revoked approver answered: %+v, %v; want %s pending", all, err, id3)
		}
		if got, _ := call(onA2); got != "approval_required" || ran.Load() != 1 {
			t.Fatalf("the call after a revoked approver's answer: %s, upstream ran %d", got, ran.Load())
		}
	})
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type bearer string

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(req)
}
