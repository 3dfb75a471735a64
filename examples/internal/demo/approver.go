package demo

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openlegant/legant/gateway"
)

// Question is an elicitation the gateway sent to an approver's inbox: what
// the approver reads, and where their answer goes.
type Question struct {
	Message string
	answer  chan *mcp.ElicitResult
}

// Approve answers the question with "accept", approve = true.
func (q Question) Approve() {
	q.answer <- &mcp.ElicitResult{Action: "accept", Content: map[string]any{"approve": true}}
}

// Decline answers the question with "decline".
func (q Question) Decline() { q.answer <- &mcp.ElicitResult{Action: "decline"} }

// Approver is a person's session on the gateway's approvals inbox
// (gateway.ApprovalsPath), with a real go-sdk client that handles
// elicitations: each question is handed to the demo on Asked and answered
// with what the demo decides.
type Approver struct {
	*Agent
	Asked <-chan Question
	done  chan struct{}
}

// ApprovalsAudience is the audience of an approver's token: the gateway's
// approvals inbox.
func (e *Env) ApprovalsAudience() string { return e.GatewayURL + gateway.ApprovalsPath }

// ConnectApprover opens name's approvals inbox with token. A refusal at the
// edge is an Outcome, not an error: (nil, refusal, nil).
func (e *Env) ConnectApprover(ctx context.Context, token, name string) (*Approver, *Outcome, error) {
	asked := make(chan Question, 8)
	done := make(chan struct{})
	c := mcp.NewClient(&mcp.Implementation{Name: name, Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			q := Question{Message: req.Params.Message, answer: make(chan *mcp.ElicitResult, 1)}
			select {
			case asked <- q:
			case <-done:
				return nil, fmt.Errorf("%s: closed", name)
			}
			select {
			case res := <-q.answer:
				return res, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-done:
				return nil, fmt.Errorf("%s: closed", name)
			}
		}})
	rt := &authTransport{token: token}
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.ApprovalsAudience(),
		HTTPClient: &http.Client{Transport: rt}}, nil)
	if err != nil {
		if status, desc := rt.takeRefusal(); status != 0 {
			return nil, &Outcome{Status: status, Reason: desc}, nil
		}
		return nil, nil, fmt.Errorf("%s: connect: %w", name, err)
	}
	return &Approver{Agent: &Agent{Name: name, cs: cs, rt: rt}, Asked: asked, done: done}, nil, nil
}

// Next waits (up to 5 s) for the approver's next question.
func (a *Approver) Next(ctx context.Context) (Question, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	select {
	case q := <-a.Asked:
		return q, nil
	case <-ctx.Done():
		return Question{}, fmt.Errorf("%s was not asked: %w", a.Name, ctx.Err())
	}
}

// Close withdraws the approver's pending answers and ends the session.
func (a *Approver) Close() error {
	close(a.done)
	return a.Agent.Close()
}
