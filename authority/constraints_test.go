package authority_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openlegant/legant/authority"
)

func money(v, cur string) *authority.Money {
	return &authority.Money{Value: authority.MustDecimal(v), Currency: cur}
}

func count(n int64) *int64 { return &n }

func TestAllows(t *testing.T) {
	w := mustWindow(t, "mon-fri 09:00-17:00 Europe/Paris")
	full := authority.Constraints{
		Tools:      authority.Only("submit_expense"),
		Resources:  authority.Only("https://files.example/receipts"),
		Categories: authority.Only("travel", "Straße"),
		MaxAmount:  money("500", "USD"),
		Budget:     money("1", "USD"), // stateful: ignored by Allows
		MaxCalls:   count(0),          // stateful: ignored by Allows
		Window:     &w,
	}
	wed := utc("2026-03-04T09:30:00Z") // 10:30 in Paris
	ok := authority.Action{Tool: "submit_expense", At: wed}
	with := func(edit func(*authority.Action)) authority.Action { a := ok; edit(&a); return a }
	tests := []struct {
		name string
		c    authority.Constraints
		a    authority.Action
		want string // refusing constraint; "" = allowed
	}{
		{"allowed", full, ok, ""},
		{"tool denied", full, with(func(a *authority.Action) { a.Tool = "delete" }), "tools"},
		{"zero Constraints deny every tool", authority.Constraints{}, ok, "tools"},
		{"unrestricted allows", authority.Unrestricted(), with(func(a *authority.Action) { a.Amount, a.Category, a.Resource = money("1000000000", "JPY"), "x", "y" }), ""},
		{"resource canonical match", full, with(func(a *authority.Action) { a.Resource = "HTTPS://FILES.EXAMPLE:443/receipts/" }), ""},
		{"resource denied", full, with(func(a *authority.Action) { a.Resource = "https://files.example/other" }), "resources"},
		{"resource invalid", full, with(func(a *authority.Action) { a.Resource = "https://files.example/receipts#x" }), "resources"},
		{"category fold", full, with(func(a *authority.Action) { a.Category = "TRAVEL" }), ""},
		{"category full case folding", full, with(func(a *authority.Action) { a.Category = "STRASSE" }), ""},
		{"category NFD", full, with(func(a *authority.Action) { a.Category = "Stra\u00dfe" }), ""},
		{"category denied", full, with(func(a *authority.Action) { a.Category = "food" }), "categories"},
		{"category deny-all", authority.Constraints{Tools: authority.AnyOf(), Categories: authority.Only()}, with(func(a *authority.Action) { a.Category = "x" }), "categories"},
		{"amount equal", full, with(func(a *authority.Action) { a.Amount = money("500.00", "USD") }), ""},
		{"amount just above", full, with(func(a *authority.Action) { a.Amount = money("500.0000001", "USD") }), "max_amount"},
		{"amount lower-case currency", full, with(func(a *authority.Action) { a.Amount = money("5", "usd") }), ""},
		{"amount other currency", full, with(func(a *authority.Action) { a.Amount = money("5", "EUR") }), "currency"},
		{"amount without currency", full, with(func(a *authority.Action) { a.Amount = money("5", "") }), "currency"},
		{"amount negative", full, with(func(a *authority.Action) { a.Amount = money("-5", "USD") }), "max_amount"},
		{"limit in any currency", authority.Constraints{Tools: authority.AnyOf(), MaxAmount: money("10", "")}, with(func(a *authority.Action) { a.Amount = money("10", "JPY") }), ""},
		{"outside window", full, with(func(a *authority.Action) { a.At = utc("2026-03-07T09:30:00Z") }), "window"},
		{"unloadable zone", authority.Constraints{Tools: authority.AnyOf(), Window: &authority.Window{Zone: "Nowhere/Town", Segments: w.Segments}}, ok, "window"},
		{"empty window", authority.Constraints{Tools: authority.AnyOf(), Window: &authority.Window{Zone: "UTC"}}, ok, "window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Allows(tt.a)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Allows = %v, want nil", err)
				}
				return
			}
			var ce *authority.ConstraintError
			if !errors.As(err, &ce) || ce.Constraint != tt.want {
				t.Fatalf("Allows = %v, want a ConstraintError on %s", err, tt.want)
			}
			if ce.Msg == "" || ce.Error() != ce.Msg {
				t.Errorf("ConstraintError without message: %#v", ce)
			}
		})
	}
}

func TestAllowsMessage(t *testing.T) {
	c := authority.Constraints{Tools: authority.AnyOf(), MaxAmount: money("500", "")}
	err := c.Allows(authority.Action{Tool: "pay", Amount: money("700", "")})
	want := &authority.ConstraintError{Constraint: "max_amount", Limit: "500", Value: "700", Msg: "amount 700 exceeds max_amount 500"}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestNormalizeCategory(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Travel", "travel"},
		{"  TRAVEL ", "travel"},
		{"Straße", "strasse"},
		{"STRASSE", "strasse"},
		{"Cafe\u0301", "caf\u00e9"}, // NFD input gives the NFC form
		{"CAFÉ", "caf\u00e9"},
		{"ΣΊΣΥΦΟΣ", "σίσυφοσ"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := authority.NormalizeCategory(tt.in); got != tt.want {
			t.Errorf("NormalizeCategory(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzNormalizeCategory(f *testing.F) {
	for _, s := range []string{"Travel", "Straße", "Cafe\u0301", "ΣΊΣΥΦΟΣ", "ﬃ", "İ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := authority.NormalizeCategory(s)
		if again := authority.NormalizeCategory(n); again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, again)
		}
	})
}

func TestConstraintsJSON(t *testing.T) {
	w := mustWindow(t, "mon-fri 09:00-17:00 Europe/Paris")
	tests := []struct {
		name string
		c    authority.Constraints
		want string
	}{
		{"unrestricted", authority.Unrestricted(), `{"type":"legant_delegation"}`},
		{"zero is deny-all", authority.Constraints{}, `{"type":"legant_delegation","actions":[],"locations":[],"categories":[]}`},
		{"full", authority.Constraints{
			Tools: authority.Only("b", "a"), Resources: authority.Only("https://x.example/r"), Categories: authority.Only("travel"),
			MaxAmount: money("500", "USD"), Budget: money("1000.5", ""), MaxCalls: count(10), Window: &w,
		}, `{"type":"legant_delegation","actions":["a","b"],"locations":["https://x.example/r"],"categories":["travel"],` +
			`"max_amount":{"value":"500","currency":"USD"},"budget":{"value":"1000.5"},"max_calls":10,` +
			`"window":{"tz":"Europe/Paris","segments":[{"day":"mon","start":"09:00","end":"17:00"},{"day":"tue","start":"09:00","end":"17:00"},` +
			`{"day":"wed","start":"09:00","end":"17:00"},{"day":"thu","start":"09:00","end":"17:00"},{"day":"fri","start":"09:00","end":"17:00"}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(tt.c)
			if err != nil || string(data) != tt.want {
				t.Fatalf("Marshal = %s, %v\nwant      %s", data, err, tt.want)
			}
			var back authority.Constraints
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.c, back); diff != "" {
				t.Fatalf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConstraintsJSONNormalizes(t *testing.T) {
	var c authority.Constraints
	in := `{"type":"legant_delegation","locations":["HTTPS://X.Example:443/r/"],"categories":["TRAVEL","travel"],"max_amount":{"value":500,"currency":"usd"}}`
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	want := authority.Constraints{Tools: authority.AnyOf(), Resources: authority.Only("https://x.example/r"),
		Categories: authority.Only("travel"), MaxAmount: money("500", "USD")}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestConstraintsJSONStrict(t *testing.T) {
	for _, bad := range []string{
		`{}`,
		`{"type":"other"}`,
		`{"type":"legant_delegation","max_amount_per_day":"1"}`,
		`{"type":"legant_delegation","actions":null}`,
		`{"type":"legant_delegation","actions":"read"}`,
		`{"type":"legant_delegation","actions":["a"],"actions":["a","b"]}`,
		`{"type":"legant_delegation","max_amount":{"value":"-1"}}`,
		`{"type":"legant_delegation","max_amount":{"value":5e2}}`,
		`{"type":"legant_delegation","max_amount":{"currency":"USD"}}`,
		`{"type":"legant_delegation","max_amount":{"value":"1","currency":"DOLLARS"}}`,
		`{"type":"legant_delegation","max_amount":{"value":"1","limit":"2"}}`,
		`{"type":"legant_delegation","max_calls":-1}`,
		`{"type":"legant_delegation","max_calls":1.5}`,
		`{"type":"legant_delegation","locations":["https://x.example/#frag"]}`,
		`{"type":"legant_delegation","window":{"tz":"UTC","segments":[{"day":"mon","start":"10:00","end":"09:00"}]}}`,
		`[]`,
	} {
		var c authority.Constraints
		err := json.Unmarshal([]byte(bad), &c)
		if !errors.Is(err, authority.ErrConstraints) {
			t.Errorf("Unmarshal(%s) = %v, want ErrConstraints", bad, err)
		}
	}
}

func TestNormalizeRejects(t *testing.T) {
	for name, c := range map[string]authority.Constraints{
		"negative budget": {Budget: money("-1", "")},
		"bad currency":    {MaxAmount: money("1", "US")},
		"negative calls":  {MaxCalls: count(-1)},
		"bad resource":    {Resources: authority.Only("https://a.example/#f")},
		"bad window":      {Window: &authority.Window{Zone: "UTC", Segments: []authority.Segment{{Day: time.Monday, Start: 10, End: 5}}}},
		"window no zone":  {Window: &authority.Window{}},
	} {
		if _, err := c.Normalize(); !errors.Is(err, authority.ErrConstraints) {
			t.Errorf("%s: Normalize = %v, want ErrConstraints", name, err)
		}
	}
}
