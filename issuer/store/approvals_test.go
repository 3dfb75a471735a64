package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestApprovals: a request is created once per call key, decided once, used
// up as it is taken, bounded per token, expires, and is deleted on demand;
// concurrent takes of a granted approval use it once.
func TestApprovals(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
		req := func(id, key string) store.Approval {
			return store.Approval{ID: id, CallKey: key, Expires: t0.Add(10 * time.Minute), TokenID: "jti-1", DelegationID: "d-1",
				User: "alice", Agents: []string{"planner", "executor"}, Client: "c", SessionID: "s", Upstream: "bank",
				Tool: "wire", ArgsHash: "ab", Args: []byte(`{"amount":9000}`), From: []string{"bob", "carol"}}
		}
		got, created, err := st.TakeApproval(ctx, req("apr_1", "k1"), 2, t0)
		if err != nil || !created || got.State != store.ApprovalPending {
			t.Fatalf("first take = %+v, %v, %v", got, created, err)
		}
		got, created, err = st.TakeApproval(ctx, req("apr_other", "k1"), 2, t0)
		if err != nil || created || got.ID != "apr_1" || !slices.Equal(got.Agents, []string{"planner", "executor"}) ||
			!slices.Equal(got.From, []string{"bob", "carol"}) || string(got.Args) != `{"amount":9000}` || !got.Expires.Equal(t0.Add(10*time.Minute)) {
			t.Fatalf("second take = %+v, %v, %v; want the stored request", got, created, err)
		}
		if _, _, err := st.TakeApproval(ctx, req("apr_2", "k2"), 2, t0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.TakeApproval(ctx, req("apr_3", "k3"), 2, t0); !errors.Is(err, store.ErrTooManyApprovals) {
			t.Fatalf("a third open request of the token = %v, want ErrTooManyApprovals", err)
		}
		if ok, err := st.DecideApproval(ctx, "apr_1", "bob", true, t0); err != nil || !ok {
			t.Fatalf("decide = %v, %v", ok, err)
		}
		if ok, _ := st.DecideApproval(ctx, "apr_1", "carol", false, t0); ok {
			t.Fatal("a decided request was decided again")
		}
		var wg sync.WaitGroup
		results := make(chan store.Approval, 4)
		for i := range 4 {
			wg.Go(func() {
				got, _, err := st.TakeApproval(ctx, req("apr_retry"+string(rune('a'+i)), "k1"), 10, t0)
				if err != nil {
					t.Error(err)
				}
				results <- got
			})
		}
		wg.Wait()
		close(results)
		granted := 0
		for got := range results {
			if got.State == store.ApprovalGranted && got.ID == "apr_1" && got.Approver == "bob" {
				granted++
			}
		}
		if granted != 1 {
			t.Fatalf("%d concurrent takes got the granted approval, want 1", granted)
		}
		all, err := st.Approvals(ctx, t0)
		if err != nil || len(all) != 2 {
			t.Fatalf("Approvals = %+v, %v; want k2 and the new k1 request", all, err)
		}
		if err := st.DeleteApprovals(ctx, all[0].ID, all[1].ID); err != nil {
			t.Fatal(err)
		}
		if all, _ := st.Approvals(ctx, t0); len(all) != 0 {
			t.Fatalf("after delete: %+v", all)
		}
		if _, _, err := st.TakeApproval(ctx, req("apr_4", "k4"), 2, t0); err != nil {
			t.Fatal(err)
		}
		late := t0.Add(11 * time.Minute)
		if ok, _ := st.DecideApproval(ctx, "apr_4", "bob", true, late); ok {
			t.Fatal("an expired request was decided")
		}
		if all, _ := st.Approvals(ctx, late); len(all) != 0 {
			t.Fatalf("expired requests listed: %+v", all)
		}
	})
}
