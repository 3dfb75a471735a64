package admin

import (
	"context"
	"errors"
	"time"

	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/issuer/store"
)

// Approvals adapts the store's approvals table to the gateway's
// ApprovalStore: four-eyes approval requests shared by every replica.
type Approvals struct{ Store *store.Store }

var _ gateway.ApprovalStore = Approvals{}

func (a Approvals) TakeApproval(ctx context.Context, r gateway.ApprovalRecord, perToken int, now time.Time) (gateway.ApprovalRecord, bool, error) {
	got, created, err := a.Store.TakeApproval(ctx, store.Approval(r), perToken, now)
	if errors.Is(err, store.ErrTooManyApprovals) {
		err = gateway.ErrTooManyApprovals
	}
	return gateway.ApprovalRecord(got), created, err
}

func (a Approvals) DecideApproval(ctx context.Context, id, approver string, grant bool, now time.Time) (bool, error) {
	return a.Store.DecideApproval(ctx, id, approver, grant, now)
}

func (a Approvals) Approvals(ctx context.Context, now time.Time) ([]gateway.ApprovalRecord, error) {
	list, err := a.Store.Approvals(ctx, now)
	out := make([]gateway.ApprovalRecord, len(list))
	for i, r := range list {
		out[i] = gateway.ApprovalRecord(r)
	}
	return out, err
}

func (a Approvals) DeleteApprovals(ctx context.Context, ids ...string) error {
	return a.Store.DeleteApprovals(ctx, ids...)
}
