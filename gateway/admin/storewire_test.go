package admin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/gateway"
	"github.com/openlegant/legant/gateway/admin"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

func TestAdapters(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b.Options(t))
		rec := st.Audit()
		err := rec.Record(ctx, []audit.Event{{Time: time.Now(), Kind: audit.KindDeny, User: "al\xffice",
			Tool: "submit_expense", Decision: "deny", Reason: "max_amount", Constraint: "max_amount", Limit: "500", Value: "700"}})
		if err != nil {
			t.Fatalf("an event with invalid UTF-8 must still be recorded: %v", err)
		}
		evs, err := st.Audit().Tail(ctx, 1)
		if err != nil || len(evs) != 1 || evs[0].Limit != "500" || evs[0].Value != "700" || evs[0].User != "al\ufffdice" {
			t.Fatalf("recorded %+v, %v", evs, err)
		}

		s := admin.Sessions{Store: st}
		if _, err := s.LoadSession(ctx, "nope"); !errors.Is(err, gateway.ErrSessionNotFound) {
			t.Fatalf("unknown session: %v", err)
		}
		rec1 := gateway.SessionRecord{ID: "s1", Upstream: "expenses", User: "alice", Agents: []string{"planner"},
			TokenID: "j1", Started: time.Now()}
		if err := s.SaveSession(ctx, rec1); err != nil {
			t.Fatal(err)
		}
		got, err := s.LoadSession(ctx, "s1")
		if err != nil || got.User != "alice" || got.Killed {
			t.Fatalf("loaded %+v, %v", got, err)
		}
		if err := s.EndSession(ctx, "s1", true, "incident"); err != nil {
			t.Fatal(err)
		}
		se, err := st.GetSession(ctx, "s1")
		if err != nil || se.State != store.SessionKilled || se.EndReason != "incident" {
			t.Fatalf("after a kill: %+v, %v", se, err)
		}
		if got, _ := s.LoadSession(ctx, "s1"); !got.Killed || got.End != gateway.EndKilled {
			t.Fatalf("a killed session must load as killed: %+v", got)
		}
		rec2 := rec1
		rec2.ID = "s2"
		if err := s.SaveSession(ctx, rec2); err != nil {
			t.Fatal(err)
		}
		if err := s.EndSession(ctx, "s2", false, gateway.EndIdle); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.LoadSession(ctx, "s2"); !got.Killed || got.End != gateway.EndIdle {
			t.Fatalf("an idle-ended session must load as ended idle: %+v", got)
		}
		rec3 := rec1
		rec3.ID = "s3"
		if err := s.SaveSession(ctx, rec3); err != nil {
			t.Fatal(err)
		}
		var batcher gateway.ActivityBatcher = s // the gateway flushes every session's activity in one call
		notFound, err := batcher.TouchSessions(ctx, map[string]gateway.Activity{
			"s3": {At: time.Now(), Allowed: 3, Denied: 1}, "nope": {At: time.Now(), Allowed: 1}})
		if err != nil || len(notFound) != 1 || notFound[0] != "nope" {
			t.Fatalf("TouchSessions = %v, %v; want [nope]", notFound, err)
		}
		if se, err := st.GetSession(ctx, "s3"); err != nil || se.CallsAllowed != 3 || se.CallsDenied != 1 {
			t.Fatalf("after TouchSessions: %+v, %v", se, err)
		}
	})
}

func TestSelectorFor(t *testing.T) {
	for kind, want := range map[string]gateway.Selector{
		"jti": {TokenID: "x"}, "delegation": {DelegationID: "x"}, "agent": {Agent: "x"}, "user": {User: "x"},
	} {
		if got := admin.SelectorFor(store.Revocation{Kind: revKind(kind), Value: "x"}); got != want {
			t.Errorf("%s: %+v, want %+v", kind, got, want)
		}
	}
}

func revKind(s string) revfeed.Kind { return revfeed.Kind(s) }
