package gateway

// The approvals inbox: an MCP endpoint the gateway serves itself at
// ApprovalsPath, where approvers keep a session open with their own token
// (audience: the gateway's public URL + ApprovalsPath). When a four-eyes
// call opens an approval request (approval.go), every eligible approver
// with an open session is asked with an elicitation (elicitation/create,
// form mode: approve yes/no) — MCP clients show elicitations to their user,
// never to a model. An approver who connects later is asked about the
// requests still open. Its tools:
//
//	pending           the open requests the caller may decide
//	approve {id}      asks the caller (an elicitation) to decide request id;
//	                  refused, and audited, for the requester or anyone in
//	                  the call's chain (self_approval) or a user the tool does
//	                  not list (not_an_approver)

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/dpop"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// ApprovalsPath is the path of the approvals inbox; the audience of an
// approver's token is the gateway's public URL followed by it.
const ApprovalsPath = "/approvals"

// approvalsSlug names the inbox in audit events (Upstream) and logs.
const approvalsSlug = "approvals"

// inboxIdle ends an approver's session after this long without a request.
const inboxIdle = 30 * time.Minute

// maxShownArgs caps the arguments an elicitation shows (their hash is
// always shown).
const maxShownArgs = 2048

// inbox holds the approvers' open sessions. Safe for concurrent use.
type inbox struct {
	handler http.Handler

	stop chan struct{} // closed by close: ends pollApprovals; nil without one

	mu      sync.Mutex
	closing bool
	open    map[*mcp.ServerSession]*approverSession
	wg      sync.WaitGroup // one goroutine per open session, waiting for its end
}

// approverSession is one open inbox session: its approver, and a context
// that ends when the session ends (or its client asks to end it), which
// withdraws the questions asked on it — go-sdk closes a session only once
// its outgoing requests are answered.
type approverSession struct {
	claims *authority.Claims
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	asked map[string]bool // the requests this session was asked about
}

// ask reports whether the session is yet to be asked about request id,
// and marks it asked.
func (as *approverSession) ask(id string) bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	if as.asked[id] {
		return false
	}
	as.asked[id] = true
	return true
}

type approverKey struct{}

func (g *Gateway) newInbox() *inbox {
	in := &inbox{open: map[*mcp.ServerSession]*approverSession{}}
	h := mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		c, _ := r.Context().Value(approverKey{}).(*authority.Claims)
		if c == nil {
			return nil
		}
		return g.inboxServer(c)
	}, &mcp.StreamableHTTPOptions{SessionTimeout: inboxIdle, Logger: g.log})
	// go-sdk binds each session to the user who opened it (TokenInfo.UserID):
	// serveApprovals verified the token; this hands go-sdk the result.
	in.handler = auth.RequireBearerToken(func(_ context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		c, _ := r.Context().Value(approverKey{}).(*authority.Claims)
		if c == nil {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: c.Subject, Scopes: c.Scopes,
			Expiration: time.Now().Add(c.ExpiresAt.Sub(g.now()))}, nil // go-sdk compares with the wall clock
	}, nil)(h)
	if g.opts.Approvals != nil {
		in.stop = make(chan struct{})
		in.wg.Add(1)
		go g.pollApprovals(in)
	}
	return in
}

// askAbout asks the approver of as about every open request they may
// decide.
func (g *Gateway) askAbout(ss *mcp.ServerSession, as *approverSession) {
	ctx, cancel := g.storeContext(as.ctx)
	defer cancel()
	g.approvals.each(ctx, g.now(), func(a *approvalRequest) { g.askOne(ss, as, a) })
}

// pollApprovals, with a shared ApprovalStore, reads the open requests every
// approvalPoll while approvers have sessions open: each is asked about the
// requests opened on other replicas, and questions about requests decided,
// used or cancelled elsewhere are withdrawn (approvals.sharedList). It
// returns when the inbox closes.
func (g *Gateway) pollApprovals(in *inbox) {
	defer in.wg.Done()
	tick := time.NewTicker(approvalPoll)
	defer tick.Stop()
	for {
		select {
		case <-in.stop:
			return
		case <-tick.C:
		}
		open := in.sessions()
		if len(open) == 0 {
			continue
		}
		ctx, cancel := g.storeContext(g.approvals.root)
		g.approvals.each(ctx, g.now(), func(a *approvalRequest) { // one read for every session
			for ss, as := range open {
				g.askOne(ss, as, a)
			}
		})
		cancel()
	}
}

// serveApprovals is the edge of the inbox: Origin, then the approver's own
// token for the inbox's audience (signature, issuer, expiry, act, revocation,
// held kills), as serveMCP checks a caller's, with at most one actor (the
// approver's own app: a token delegated through agents is refused, 403).
func (g *Gateway) serveApprovals(w http.ResponseWriter, r *http.Request) {
	if !g.originAllowed(r) {
		g.record(audit.Event{Kind: audit.KindEdge403, Upstream: approvalsSlug, Reason: "origin"})
		http.Error(w, "Forbidden: origin not allowed", http.StatusForbidden)
		return
	}
	up := &upstreams.Upstream{Slug: approvalsSlug, InboundAudience: g.publicURL(r) + ApprovalsPath, DPoP: dpop.ModeBearer}
	c, _, aerr := g.verifyAccess(r, up)
	if aerr != nil {
		ev := audit.Event{Kind: audit.KindEdge401, Upstream: approvalsSlug, Reason: aerr.reason}
		if c != nil {
			ev = withPrincipal(ev, c)
		}
		g.record(ev)
		params := []string{}
		if aerr.code != "" {
			params = append(params, fmt.Sprintf("error=%q", aerr.code), fmt.Sprintf("error_description=%q", aerr.desc))
		}
		w.Header().Set("WWW-Authenticate", strings.TrimSpace("Bearer "+strings.Join(params, ", ")))
		http.Error(w, aerr.desc, aerr.status)
		return
	}
	if len(c.Chain()) > 1 {
		// An approval is a person's act: their own token, from the app they
		// use, never one delegated on through agents (token exchange).
		g.record(withPrincipal(audit.Event{Kind: audit.KindEdge403, Upstream: approvalsSlug, Reason: "approver_delegated"}, c))
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="an approver's token must be their own: no delegation chain"`)
		http.Error(w, "an approver's token must be their own: no delegation chain", http.StatusForbidden)
		return
	}
	if r.Method == http.MethodDelete {
		g.inbox.ending(r.Header.Get(headerSessionID), c.Subject)
	}
	g.inbox.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), approverKey{}, c)))
}

// inboxServer is the MCP server of one approver's session.
func (g *Gateway) inboxServer(c *authority.Claims) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "legant-approvals", Version: "1"}, &mcp.ServerOptions{
		Instructions: "Legant asks you here, with an elicitation, to approve calls that need a second person.",
		InitializedHandler: func(_ context.Context, req *mcp.InitializedRequest) {
			if as := g.inbox.add(req.Session, c); as != nil {
				g.askAbout(req.Session, as)
			}
		},
	})
	s.AddTool(&mcp.Tool{Name: "pending", Description: "List the approval requests you may decide",
		InputSchema: json.RawMessage(`{"type":"object"}`)}, g.pendingTool(c))
	s.AddTool(&mcp.Tool{Name: "approve", Description: "Decide an approval request (you are asked to confirm)",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]}`)}, g.approveTool(c))
	return s
}

// add registers an approver's session; nil when the gateway is closing
// (the session is closed at once).
func (in *inbox) add(ss *mcp.ServerSession, c *authority.Claims) *approverSession {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closing {
		go ss.Close()
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	as := &approverSession{claims: c, ctx: ctx, cancel: cancel, asked: map[string]bool{}}
	in.open[ss] = as
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		ss.Wait()
		cancel()
		in.mu.Lock()
		delete(in.open, ss)
		in.mu.Unlock()
	}()
	return as
}

// ending withdraws the questions of session id, whose approver user asked
// to end it (DELETE), so that it can close.
func (in *inbox) ending(id, user string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for ss, as := range in.open {
		if ss.ID() == id && as.claims.Subject == user {
			as.cancel()
		}
	}
}

// sessions returns the open sessions and their approvers.
func (in *inbox) sessions() map[*mcp.ServerSession]*approverSession {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[*mcp.ServerSession]*approverSession, len(in.open))
	for ss, as := range in.open {
		out[ss] = as
	}
	return out
}

// close ends every approver's session and waits for their goroutines.
func (in *inbox) close() {
	in.mu.Lock()
	in.closing = true
	if in.stop != nil {
		close(in.stop)
	}
	open := make([]*mcp.ServerSession, 0, len(in.open))
	for ss, as := range in.open {
		as.cancel()
		open = append(open, ss)
	}
	in.mu.Unlock()
	for _, ss := range open {
		ss.Close()
	}
	in.wg.Wait()
}

// askApprovers asks every eligible approver with an open session about a.
func (g *Gateway) askApprovers(a *approvalRequest) {
	for ss, as := range g.inbox.sessions() {
		g.askOne(ss, as, a)
	}
}

// askOne asks the approver of as on ss about a, on a goroutine Close waits
// for, when they may approve it.
func (g *Gateway) askOne(ss *mcp.ServerSession, as *approverSession, a *approvalRequest) {
	if r, _ := approverRefusal(a, as.claims); r != "" || !as.ask(a.id) {
		return
	}
	g.tasks.start(func() { g.elicitApproval(as.ctx, ss, as.claims, a) })
}

// elicitApproval asks approver c on ss whether a may run, and records the
// answer: accept with approve=true grants, decline or approve=false
// declines; cancel, an error or the end of a (decided by someone else,
// cancelled, expired, the gateway closing) decides nothing. It returns the
// decision taken, "" when none.
// ctx is the session's (or the approve call's) context.
func (g *Gateway) elicitApproval(ctx context.Context, ss *mcp.ServerSession, c *authority.Claims, a *approvalRequest) audit.Kind {
	ctx, cancel := context.WithTimeout(ctx, a.expires.Sub(g.now()))
	defer cancel()
	stop := context.AfterFunc(a.ctx, cancel) // the request ended: withdraw the question
	defer stop()
	res, err := ss.Elicit(ctx, &mcp.ElicitParams{Message: approvalQuestion(a), RequestedSchema: approvalSchema})
	if err != nil {
		g.log.Debug("approval elicitation ended without an answer", "approval", a.id, "err", err)
		return ""
	}
	var grant bool
	switch approve, _ := res.Content["approve"].(bool); {
	case res.Action == "accept" && approve:
		grant = true
	case res.Action == "decline" || (res.Action == "accept" && res.Content["approve"] == false):
	default:
		return "" // dismissed: no decision
	}
	if g.opts.Revocations != nil {
		if _, revoked := g.opts.Revocations.Revoked(c); revoked {
			return ""
		}
	}
	if _, held := g.held.covers(c, g.now()); held {
		return ""
	}
	sctx, scancel := g.storeContext(context.WithoutCancel(ctx))
	defer scancel()
	if !g.approvals.decide(sctx, a, c.Subject, grant, g.now()) {
		return ""
	}
	kind := audit.KindApprovalDeclined
	if grant {
		kind = audit.KindApprovalGranted
	}
	g.record(a.event(kind, "by "+c.Subject, c.Subject))
	return kind
}

// approvalSchema is the form an approver answers: one boolean.
var approvalSchema = json.RawMessage(`{"type":"object","properties":{"approve":{"type":"boolean","title":"Approve this call","description":"true runs this one call once; false declines it"}},"required":["approve"]}`)

// approvalQuestion is what the approver reads: who asks, through which
// agents, which tool with which arguments.
func approvalQuestion(a *approvalRequest) string {
	args := string(a.args)
	if len(args) > maxShownArgs {
		args = args[:maxShownArgs] + "… (truncated)"
	}
	return fmt.Sprintf("Approval %s: %s asks to call %s on %s with %s (arguments sha256 %s). Approve this one call?",
		a.id, a.claims.Provenance(), a.key.tool, a.key.slug, args, a.key.argsHash)
}

// pendingTool lists the open requests approver c may decide.
func (g *Gateway) pendingTool(c *authority.Claims) mcp.ToolHandler {
	return func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var lines []string
		sctx, cancel := g.storeContext(ctx)
		defer cancel()
		g.approvals.each(sctx, g.now(), func(a *approvalRequest) {
			if r, _ := approverRefusal(a, c); r == "" {
				lines = append(lines, approvalQuestion(a))
			}
		})
		text := "no approval requests for you"
		if len(lines) > 0 {
			text = strings.Join(lines, "\n")
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
	}
}

// approveTool lets approver c decide request id: refused (and audited) when
// c may not approve it; otherwise c is asked to confirm with an elicitation
// on this session, whose answer decides.
func (g *Gateway) approveTool(c *authority.Claims) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var in struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(req.Params.Arguments, &in); err != nil || in.ID == "" {
			return nil, inboxError(policy.ReasonInvalidArgument, "denied: approve needs the request's id")
		}
		sctx, cancel := g.storeContext(ctx)
		a := g.approvals.pending(sctx, in.ID, g.now())
		cancel()
		if a == nil {
			return nil, inboxError(policy.ReasonApprovalNotFound, "denied: no open approval request "+fmt.Sprintf("%q", in.ID))
		}
		if r, why := approverRefusal(a, c); r != "" {
			g.record(a.event(audit.KindApprovalRefused, string(r), c.Subject))
			return nil, inboxError(r, "denied: "+why)
		}
		var text string
		switch g.elicitApproval(ctx, req.Session, c, a) {
		case audit.KindApprovalGranted:
			text = fmt.Sprintf("approved %s: the call may run once", a.id)
		case audit.KindApprovalDeclined:
			text = fmt.Sprintf("declined %s", a.id)
		default:
			text = fmt.Sprintf("no decision on %s", a.id)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
	}
}

// inboxError is the JSON-RPC error of a refused inbox request.
func inboxError(r policy.Reason, msg string) error {
	data, _ := json.Marshal(policy.RPCErrorData{Reason: r})
	return &jsonrpc.Error{Code: int64(r.Code()), Message: msg, Data: data}
}
