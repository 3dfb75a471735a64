package audit_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// chain builds n linked events.
func chain(n int) []audit.Event {
	var out []audit.Event
	prev := ""
	for i := 1; i <= n; i++ {
		e := audit.Event{Seq: int64(i), Time: t0.Add(time.Duration(i) * time.Second), Kind: audit.KindAllow,
			User: "alice", Agents: []string{"agent:planner", "agent:executor"}, Tool: "pay", Decision: "allow",
			Args: []byte(fmt.Sprintf(`{"amount":%d}`, i)), PrevHash: prev}
		e.ArgsHash = audit.ArgsHash(e.Args)
		e.Hash = e.ComputeHash()
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func verify(events []audit.Event, start audit.Checkpoint, pins ...audit.Checkpoint) error {
	v := audit.NewVerifier(start)
	for _, p := range pins {
		if err := v.Pin(p); err != nil {
			return err
		}
	}
	for i := range events {
		if err := v.Next(&events[i]); err != nil {
			return err
		}
	}
	return v.Finish()
}

func TestHashIsUnambiguous(t *testing.T) {
	base := audit.Event{Seq: 1, Time: t0, Kind: audit.KindDeny, User: "ab", Client: "c"}
	shifted := base
	shifted.User, shifted.Client = "a", "bc"
	agents1, agents2 := base, base
	agents1.Agents = []string{"x", "y"}
	agents2.Agents = []string{"xy"}
	empty1, empty2 := base, base
	empty2.Agents = []string{""}
	if base.ComputeHash() == shifted.ComputeHash() {
		t.Error(`("ab","c") and ("a","bc") hash alike`)
	}
	if agents1.ComputeHash() == agents2.ComputeHash() {
		t.Error(`agents [x y] and [xy] hash alike`)
	}
	if empty1.ComputeHash() == empty2.ComputeHash() {
		t.Error(`agents [] and [""] hash alike`)
	}
	// The same instant in another zone is the same event.
	other := base
	other.Time = t0.In(time.FixedZone("X", 3600))
	if base.ComputeHash() != other.ComputeHash() {
		t.Error("hash depends on the time zone of Time")
	}
}

// TestHashGolden pins the encoding: a change here breaks every stored chain.
func TestHashGolden(t *testing.T) {
	e := audit.Event{Seq: 42, Time: t0, Kind: audit.KindDeny, User: "alice", Agents: []string{"agent:planner"},
		Client: "cli", Upstream: "expenses", Method: "tools/call", Tool: "pay", Decision: "deny",
		Reason: "amount 700 exceeds max_amount 500", Constraint: "max_amount", Limit: "500", Value: "700",
		TokenID: "jti-1", SessionID: "s-1", ArgsHash: audit.ArgsHash([]byte(`{"amount":5}`)), PrevHash: "00"}
	// Computed independently (Python: struct.pack(">I", len) + bytes per field).
	const goldenHash = "d31639e9eeb8f4c65c3aad937b4267666fcae46253f68500a75c674cf4bf23b2"
	if got := e.ComputeHash(); got != goldenHash {
		t.Errorf("hash = %s, want %s (update goldenHash only with a new hashDomain)", got, goldenHash)
	}
}

func TestVerifierDetects(t *testing.T) {
	forged := func(events []audit.Event, i int) {
		events[i].Hash = events[i].ComputeHash()
	}
	tests := []struct {
		name    string
		tamper  func([]audit.Event) []audit.Event
		wantSeq int64
	}{
		{"intact", func(e []audit.Event) []audit.Event { return e }, 0},
		{"modified", func(e []audit.Event) []audit.Event { e[4].Tool = "refund"; return e }, 5},
		{"modified and rehashed", func(e []audit.Event) []audit.Event { e[4].Tool = "refund"; forged(e, 4); return e }, 6},
		{"deleted", func(e []audit.Event) []audit.Event { return append(e[:4:4], e[5:]...) }, 5},
		{"deleted first", func(e []audit.Event) []audit.Event { return e[1:] }, 1},
		{"reordered", func(e []audit.Event) []audit.Event { e[4], e[5] = e[5], e[4]; e[4].Seq, e[5].Seq = 5, 6; return e }, 5},
		{"inserted", func(e []audit.Event) []audit.Event {
			ins := audit.Event{Seq: 5, Time: t0, Kind: audit.KindAllow, Tool: "steal", PrevHash: e[3].Hash}
			ins.Hash = ins.ComputeHash()
			out := append(append(e[:4:4], ins), e[4:]...)
			for i := 5; i < len(out); i++ {
				out[i].Seq++
			}
			return out
		}, 6},
		{"args changed", func(e []audit.Event) []audit.Event { e[2].Args = []byte(`{"amount":1e9}`); return e }, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verify(tt.tamper(chain(10)), audit.Checkpoint{})
			var ce *audit.ChainError
			switch {
			case tt.wantSeq == 0 && err != nil:
				t.Fatalf("verify = %v, want nil", err)
			case tt.wantSeq != 0 && !errors.As(err, &ce):
				t.Fatalf("verify = %v, want *ChainError at %d", err, tt.wantSeq)
			case tt.wantSeq != 0 && ce.Seq != tt.wantSeq:
				t.Fatalf("first bad seq = %d (%s), want %d", ce.Seq, ce.Reason, tt.wantSeq)
			}
		})
	}
}

func TestVerifierPins(t *testing.T) {
	events := chain(10)
	head := audit.Checkpoint{Seq: 10, Hash: events[9].Hash}
	if err := verify(events, audit.Checkpoint{}, head); err != nil {
		t.Fatalf("intact chain against its head: %v", err)
	}
	var ce *audit.ChainError
	if err := verify(events[:7], audit.Checkpoint{}, head); !errors.As(err, &ce) || ce.Seq != 8 {
		t.Fatalf("truncated chain = %v, want ChainError at 8", err)
	}
	if err := verify(chain(10), audit.Checkpoint{}, audit.Checkpoint{Seq: 3, Hash: events[4].Hash}); !errors.As(err, &ce) || ce.Seq != 3 {
		t.Fatalf("rewritten chain = %v, want ChainError at 3", err)
	}
	// A chain continuing from a prune point.
	start := audit.Checkpoint{Seq: 4, Hash: events[3].Hash}
	if err := verify(events[4:], start, head); err != nil {
		t.Fatalf("pruned chain: %v", err)
	}
	if err := verify(events[5:], start); !errors.As(err, &ce) || ce.Seq != 5 {
		t.Fatalf("pruned chain missing its first event = %v, want ChainError at 5", err)
	}
	if err := audit.NewVerifier(start).Pin(audit.Checkpoint{Seq: 2, Hash: events[1].Hash}); err == nil {
		t.Fatal("Pin before the start point succeeded")
	}
}

func TestValidate(t *testing.T) {
	ok := audit.Event{Kind: audit.KindAllow, Time: t0}
	tests := []struct {
		name string
		mod  func(*audit.Event)
		ok   bool
	}{
		{"ok", func(*audit.Event) {}, true},
		{"custom kind", func(e *audit.Event) { e.Kind = "policy_test_2" }, true},
		{"empty kind", func(e *audit.Event) { e.Kind = "" }, false},
		{"kind with space", func(e *audit.Event) { e.Kind = "allow all" }, false},
		{"NUL", func(e *audit.Event) { e.Tool = "a\x00b" }, false},
		{"bad UTF-8", func(e *audit.Event) { e.Agents = []string{"\xff"} }, false},
		{"bad args hash", func(e *audit.Event) { e.ArgsHash = "ABC" }, false},
		{"args mismatch", func(e *audit.Event) { e.Args = []byte(`{}`); e.ArgsHash = audit.ArgsHash([]byte(`[]`)) }, false},
		{"time out of range", func(e *audit.Event) { e.Time = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.mod(&e)
			err := e.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, audit.ErrInvalidEvent) {
				t.Fatalf("Validate error %v is not ErrInvalidEvent", err)
			}
		})
	}
}

func TestAnchorRoundTrip(t *testing.T) {
	k, err := authority.GenerateEd25519Key("k1")
	if err != nil {
		t.Fatal(err)
	}
	ks := authority.NewKeySet()
	ks.Add(k, time.Time{})
	events := chain(3)
	a := audit.Anchor{Issuer: "https://issuer.test", Seq: 3, Hash: events[2].Hash, Time: t0}
	tok, err := audit.SignAnchor(k, audit.AnchorType, a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := audit.VerifyAnchor(tok, ks, audit.AnchorType, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Checkpoint() != a.Checkpoint() || !got.Time.Equal(t0.Truncate(time.Second)) || got.Issuer != a.Issuer {
		t.Errorf("anchor = %+v, want %+v", got, a)
	}
	if _, err := audit.VerifyAnchor(tok, ks, audit.PruneType, t0); !errors.Is(err, audit.ErrBadAnchor) {
		t.Errorf("anchor accepted as a prune record: %v", err)
	}
	other, _ := authority.GenerateEd25519Key("k1")
	ks2 := authority.NewKeySet()
	ks2.Add(other, time.Time{})
	if _, err := audit.VerifyAnchor(tok, ks2, audit.AnchorType, t0); !errors.Is(err, audit.ErrBadAnchor) {
		t.Errorf("anchor verified with another key: %v", err)
	}
}
