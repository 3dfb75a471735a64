// Package expenses is Legant's demo upstream: a small MCP server for an
// expense tracker, built with the official Go SDK. `legant demo` serves it
// behind the gateway, and the gateway's tests use it as a real upstream.
//
// Tools: list_expenses (read), submit_expense(amount, category, currency)
// (write, the one the demo constrains by amount and category) and delete_all
// (the destructive tool a delegation should never reach).
package expenses

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Expense is one submitted expense.
type Expense struct {
	ID       int     `json:"id"`
	Amount   float64 `json:"amount"`
	Category string  `json:"category"`
	Currency string  `json:"currency,omitempty"`
	User     string  `json:"user,omitempty"`
}

// Ledger is the demo's in-memory state. Safe for concurrent use.
type Ledger struct {
	mu       sync.Mutex
	expenses []Expense
	// Calls counts every tool call the server started, for tests that must
	// prove what did (or did not) reach the upstream.
	Calls atomic.Int64
}

// Expenses returns a copy of the recorded expenses.
func (l *Ledger) Expenses() []Expense {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Expense(nil), l.expenses...)
}

type listIn struct{}
type listOut struct {
	Expenses []Expense `json:"expenses"`
}

type submitIn struct {
	Amount   float64 `json:"amount" jsonschema:"amount of the expense"`
	Category string  `json:"category" jsonschema:"travel, meals, office…"`
	Currency string  `json:"currency,omitempty" jsonschema:"ISO 4217 code, default USD"`
}
type submitOut struct {
	ID int `json:"id"`
}

type deleteIn struct{}
type deleteOut struct {
	Deleted int `json:"deleted"`
}

// NewServer returns the demo MCP server over l.
func NewServer(l *Ledger) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "expenses", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "list_expenses", Description: "List submitted expenses"},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ listIn) (*mcp.CallToolResult, listOut, error) {
			l.Calls.Add(1)
			return nil, listOut{Expenses: l.Expenses()}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "submit_expense", Description: "Submit an expense"},
		func(ctx context.Context, _ *mcp.CallToolRequest, in submitIn) (*mcp.CallToolResult, submitOut, error) {
			l.Calls.Add(1)
			l.mu.Lock()
			defer l.mu.Unlock()
			e := Expense{ID: len(l.expenses) + 1, Amount: in.Amount, Category: in.Category, Currency: in.Currency}
			l.expenses = append(l.expenses, e)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{
				Text: fmt.Sprintf("expense %d submitted: %.2f %s", e.ID, e.Amount, e.Category)}}}, submitOut{ID: e.ID}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "delete_all", Description: "Delete every expense"},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ deleteIn) (*mcp.CallToolResult, deleteOut, error) {
			l.Calls.Add(1)
			l.mu.Lock()
			defer l.mu.Unlock()
			n := len(l.expenses)
			l.expenses = nil
			return nil, deleteOut{Deleted: n}, nil
		})
	return s
}

// Handler serves the demo server over Streamable HTTP. stateless selects the
// stateless mode (protocol revision 2026-07-28 and sessionless legacy).
func Handler(l *Ledger, stateless bool) http.Handler {
	s := NewServer(l)
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: stateless})
}
