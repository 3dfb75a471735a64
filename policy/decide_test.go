package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
)

// expenseBinding is the typical finance tool: amount, currency, category and
// the cost centre it is charged to.
func expenseBinding() *Binding {
	return &Binding{
		Tool:     "submit_expense",
		Scope:    "expenses:write",
		Amount:   &AmountBinding{Value: MustPointer("/amount"), CurrencyPointer: MustPointer("/currency")},
		Category: MustPointer("/category"),
		Mutating: true,
	}
}

func readFileBinding(kind ResourceKind) *Binding {
	return &Binding{Tool: "read_file", Resource: &ResourceBinding{Value: MustPointer("/path"), Kind: kind}}
}

// aliceClaims: may submit travel or meal expenses up to 500 USD.
func aliceClaims(mod ...func(*authority.Constraints)) *authority.Claims {
	c := &authority.Claims{
		Issuer:       "https://issuer.example",
		Subject:      "alice",
		Scopes:       []string{"expenses:write", "files:read"},
		DelegationID: "del-1",
		Actor:        &authority.Actor{Subject: "agent:planner"},
		Constraints:  authority.Unrestricted(),
	}
	c.Constraints.Tools = authority.Only("submit_expense", "read_file")
	c.Constraints.Categories = authority.Only("travel", "meal")
	c.Constraints.MaxAmount = &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"}
	for _, m := range mod {
		m(&c.Constraints)
	}
	return c
}

var noon = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

type decideCase struct {
	name    string
	claims  *authority.Claims
	binding *Binding
	tool    string // "" = the binding's tool
	args    string
	at      time.Time // zero = noon
	want    Reason
	msg     string // exact Message when set
}

func runDecideCases(t *testing.T, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, b := tc.claims, tc.binding
			if c == nil {
				c = aliceClaims()
			}
			if b == nil {
				b = expenseBinding()
			}
			tool := tc.tool
			if tool == "" {
				tool = b.Tool
			}
			at := tc.at
			if at.IsZero() {
				at = noon
			}
			var args json.RawMessage
			if tc.args != "" {
				args = json.RawMessage(tc.args)
			}
			d := Decide(c, b, Call{Tool: tool, Arguments: args, At: at})
			if d.Reason != tc.want || d.Allow != (tc.want == ReasonAllowed) {
				t.Fatalf("Decide(%s) = allow %v reason %q (%s), want %q", tc.args, d.Allow, d.Reason, d.Message, tc.want)
			}
			if tc.msg != "" && d.Message != tc.msg {
				t.Errorf("Message = %q, want %q", d.Message, tc.msg)
			}
			if !d.Allow && d.Message == "" {
				t.Errorf("denial without a message: %+v", d)
			}
		})
	}
}

func TestDecideAmount(t *testing.T) {
	const cur = `,"currency":"USD","category":"travel"`
	runDecideCases(t, []decideCase{
		{name: "below", args: `{"amount":499.99` + cur + `}`, want: ReasonAllowed},
		{name: "limit is inclusive", args: `{"amount":500` + cur + `}`, want: ReasonAllowed},
		{name: "limit with trailing zeros", args: `{"amount":500.000` + cur + `}`, want: ReasonAllowed},
		{name: "zero", args: `{"amount":0` + cur + `}`, want: ReasonAllowed},
		{name: "one cent over", args: `{"amount":500.01` + cur + `}`, want: ReasonMaxAmount,
			msg: "denied: amount 500.01 exceeds max_amount 500"},
		{name: "700", args: `{"amount":700` + cur + `}`, want: ReasonMaxAmount,
			msg: "denied: amount 700 exceeds max_amount 500"},
		{name: "string", args: `{"amount":"700"` + cur + `}`, want: ReasonInvalidArgument,
			msg: "denied: argument /amount: string where a number is expected"},
		{name: "small string", args: `{"amount":"1"` + cur + `}`, want: ReasonInvalidArgument},
		{name: "exponent", args: `{"amount":5e2` + cur + `}`, want: ReasonInvalidArgument,
			msg: "denied: argument /amount: number 5e2 uses exponent notation; a plain decimal is expected"},
		{name: "exponent upper", args: `{"amount":1E3` + cur + `}`, want: ReasonInvalidArgument},
		{name: "exponent small", args: `{"amount":1e-3` + cur + `}`, want: ReasonInvalidArgument},
		{name: "negative", args: `{"amount":-1` + cur + `}`, want: ReasonInvalidArgument,
			msg: "denied: argument /amount: negative amount -1"},
		{name: "negative zero", args: `{"amount":-0` + cur + `}`, want: ReasonInvalidArgument},
		{name: "too many digits", args: `{"amount":0.00000000000000000000000000000000000000001` + cur + `}`, want: ReasonInvalidArgument},
		{name: "NaN token", args: `{"amount":NaN` + cur + `}`, want: ReasonInvalidArgument},
		{name: "Infinity token", args: `{"amount":Infinity` + cur + `}`, want: ReasonInvalidArgument},
		{name: "null", args: `{"amount":null` + cur + `}`, want: ReasonInvalidArgument,
			msg: "denied: argument /amount: null where a number is expected"},
		{name: "boolean", args: `{"amount":true` + cur + `}`, want: ReasonInvalidArgument},
		{name: "array", args: `{"amount":[1]` + cur + `}`, want: ReasonInvalidArgument},
		{name: "object", args: `{"amount":{"value":1}` + cur + `}`, want: ReasonInvalidArgument},
		{name: "missing", args: `{"currency":"USD","category":"travel"}`, want: ReasonInvalidArgument,
			msg: "denied: argument /amount is missing"},
		{name: "no arguments", args: ``, want: ReasonInvalidArgument, msg: "denied: argument /amount is missing"},
		{name: "duplicate key", args: `{"amount":1,"amount":900` + cur + `}`, want: ReasonInvalidArgument,
			msg: `denied: argument /amount: duplicate key "amount" at /`},
		{name: "escaped duplicate key", args: `{"amount":1,"am\u006funt":900` + cur + `}`, want: ReasonInvalidArgument},
		{name: "case variant key", args: `{"amount":1,"Amount":900` + cur + `}`, want: ReasonInvalidArgument},
		{name: "only a case variant", args: `{"AMOUNT":1` + cur + `}`, want: ReasonInvalidArgument},
		{name: "duplicate unrelated key is not ours", args: `{"amount":1,"note":"a","note":"b"` + cur + `}`, want: ReasonAllowed},
	})
}

func TestDecideArguments(t *testing.T) {
	noArgs := &Binding{Tool: "list_expenses"}
	c := aliceClaims(func(k *authority.Constraints) { k.Tools = authority.AnyOf(); k.MaxAmount.Currency = "" })
	runDecideCases(t, []decideCase{
		{name: "absent arguments", claims: c, binding: noArgs, args: ``, want: ReasonAllowed},
		{name: "null arguments", claims: c, binding: noArgs, args: `null`, want: ReasonAllowed},
		{name: "empty object", claims: c, binding: noArgs, args: `{}`, want: ReasonAllowed},
		{name: "array", claims: c, binding: noArgs, args: `[1,2]`, want: ReasonInvalidArgument,
			msg: "denied: arguments: array where an object is expected"},
		{name: "string", claims: c, binding: noArgs, args: `"x"`, want: ReasonInvalidArgument},
		{name: "truncated", claims: c, binding: noArgs, args: `{"a":`, want: ReasonInvalidArgument},
		{name: "trailing garbage", claims: c, binding: noArgs, args: `{"a":1}x`, want: ReasonInvalidArgument},
		{name: "invalid UTF-8", claims: c, binding: noArgs, args: "{\"a\":\"\xff\"}", want: ReasonInvalidArgument},
		{name: "nested pointer", claims: c, binding: &Binding{Tool: "pay", Amount: &AmountBinding{Value: MustPointer("/payment/amount")}},
			args: `{"payment":{"amount":12.5}}`, want: ReasonAllowed},
		{name: "nested duplicate on path", claims: c, binding: &Binding{Tool: "pay", Amount: &AmountBinding{Value: MustPointer("/payment/amount")}},
			args: `{"payment":{"amount":12.5},"payment":{"amount":9000}}`, want: ReasonInvalidArgument},
		{name: "array index", claims: c, binding: &Binding{Tool: "pay", Amount: &AmountBinding{Value: MustPointer("/items/1/price")}},
			args: `{"items":[{"price":1},{"price":501}]}`, want: ReasonMaxAmount},
		{name: "array index out of range", claims: c, binding: &Binding{Tool: "pay", Amount: &AmountBinding{Value: MustPointer("/items/2/price")}},
			args: `{"items":[{"price":1},{"price":501}]}`, want: ReasonInvalidArgument},
	})
}

func TestDecideCurrency(t *testing.T) {
	fixed := &Binding{Tool: "submit_expense", Amount: &AmountBinding{Value: MustPointer("/amount"), Currency: "EUR"}}
	both := &Binding{Tool: "submit_expense", Amount: &AmountBinding{Value: MustPointer("/amount"), Currency: "USD", CurrencyPointer: MustPointer("/currency")}}
	noCur := &Binding{Tool: "submit_expense", Amount: &AmountBinding{Value: MustPointer("/amount")}}
	anyCur := aliceClaims(func(k *authority.Constraints) { k.MaxAmount.Currency = "" })
	budgetEUR := aliceClaims(func(k *authority.Constraints) {
		k.MaxAmount = nil
		k.Budget = &authority.Money{Value: authority.MustDecimal("1000"), Currency: "EUR"}
	})
	runDecideCases(t, []decideCase{
		{name: "other currency", args: `{"amount":1,"currency":"EUR","category":"meal"}`, want: ReasonCurrency,
			msg: "denied: currency EUR differs from max_amount currency USD"},
		{name: "no currency stated", args: `{"amount":1,"category":"meal"}`, want: ReasonCurrency,
			msg: "denied: the call states no currency; max_amount is in USD"},
		{name: "lowercase code", args: `{"amount":1,"currency":"usd","category":"meal"}`, want: ReasonInvalidArgument},
		{name: "currency number", args: `{"amount":1,"currency":840,"category":"meal"}`, want: ReasonInvalidArgument},
		{name: "duplicate currency", args: `{"amount":1,"currency":"USD","currency":"EUR","category":"meal"}`, want: ReasonInvalidArgument},
		{name: "fixed currency differs", binding: fixed, args: `{"amount":1}`, want: ReasonCurrency},
		{name: "fixed and pointer agree", binding: both, args: `{"amount":1,"currency":"USD"}`, want: ReasonAllowed},
		{name: "fixed and pointer disagree", binding: both, args: `{"amount":1,"currency":"EUR"}`, want: ReasonInvalidArgument},
		{name: "fixed used when pointer absent", binding: both, args: `{"amount":1}`, want: ReasonAllowed},
		{name: "token any currency", claims: anyCur, binding: noCur, args: `{"amount":500}`, want: ReasonAllowed},
		{name: "token any currency still caps", claims: anyCur, binding: noCur, args: `{"amount":501}`, want: ReasonMaxAmount},
		{name: "budget currency", claims: budgetEUR, args: `{"amount":1,"currency":"USD","category":"meal"}`, want: ReasonCurrency,
			msg: "denied: currency USD differs from budget currency EUR"},
		{name: "budget currency matches", claims: budgetEUR, args: `{"amount":1,"currency":"EUR","category":"meal"}`, want: ReasonAllowed},
	})
}

func TestDecideCategory(t *testing.T) {
	cafe := aliceClaims(func(k *authority.Constraints) { k.Categories = authority.Only(authority.NormalizeCategory("Café")) })
	const pre = `{"amount":1,"currency":"USD","category":`
	runDecideCases(t, []decideCase{
		{name: "Travel", args: pre + `"Travel"}`, want: ReasonAllowed},
		{name: "travel", args: pre + `"travel"}`, want: ReasonAllowed},
		{name: "TRAVEL", args: pre + `"TRAVEL"}`, want: ReasonAllowed},
		{name: "escaped", args: pre + `"TR\u0041VEL"}`, want: ReasonAllowed},
		{name: "other", args: pre + `"gifts"}`, want: ReasonCategory, msg: `denied: category "gifts" is not allowed`},
		{name: "near miss", args: pre + `"travels"}`, want: ReasonCategory},
		{name: "NFC", claims: cafe, args: pre + `"café"}`, want: ReasonAllowed},
		{name: "NFD", claims: cafe, args: pre + `"cafe\u0301"}`, want: ReasonAllowed},
		{name: "NFD upper", claims: cafe, args: pre + `"CAFE\u0301"}`, want: ReasonAllowed},
		{name: "without accent", claims: cafe, args: pre + `"cafe"}`, want: ReasonCategory},
		{name: "number", args: pre + `7}`, want: ReasonInvalidArgument,
			msg: "denied: argument /category: number where a string is expected"},
		{name: "empty", args: pre + `""}`, want: ReasonInvalidArgument},
		{name: "missing", args: `{"amount":1,"currency":"USD"}`, want: ReasonInvalidArgument,
			msg: "denied: argument /category is missing"},
		{name: "deny-all", claims: aliceClaims(func(k *authority.Constraints) { k.Categories = authority.Only() }),
			args: pre + `"travel"}`, want: ReasonCategory},
		{name: "unrestricted", claims: aliceClaims(func(k *authority.Constraints) { k.Categories = authority.AnyOf() }),
			args: pre + `"gifts"}`, want: ReasonAllowed},
	})
}

func TestDecideResource(t *testing.T) {
	withRes := func(items ...string) *authority.Claims {
		return aliceClaims(func(k *authority.Constraints) { k.Resources = authority.Only(items...) })
	}
	paths := withRes("/data/reports/", "/etc/motd")
	urls := withRes("https://docs.example.com/a/b")
	names := withRes("ledger")
	pathB, urlB, nameB := readFileBinding(ResourcePath), readFileBinding(ResourceURL), readFileBinding(ResourceName)
	runDecideCases(t, []decideCase{
		{name: "path in subtree", claims: paths, binding: pathB, args: `{"path":"/data/reports/q1.csv"}`, want: ReasonAllowed},
		{name: "path deep in subtree", claims: paths, binding: pathB, args: `{"path":"/data/reports/2026/q1.csv"}`, want: ReasonAllowed},
		{name: "path is the directory", claims: paths, binding: pathB, args: `{"path":"/data/reports"}`, want: ReasonAllowed},
		{name: "path cleaned into subtree", claims: paths, binding: pathB, args: `{"path":"/data/./x/../reports//q1.csv"}`, want: ReasonAllowed},
		{name: "path exact file", claims: paths, binding: pathB, args: `{"path":"/etc/motd"}`, want: ReasonAllowed},
		{name: "path not under exact entry", claims: paths, binding: pathB, args: `{"path":"/etc/motd/x"}`, want: ReasonResource},
		{name: "path sibling prefix", claims: paths, binding: pathB, args: `{"path":"/data/reportsX/a"}`, want: ReasonResource},
		{name: "path climbs out", claims: paths, binding: pathB, args: `{"path":"/data/reports/../secrets"}`, want: ReasonResource,
			msg: "denied: resource /data/secrets is not allowed"},
		{name: "path escapes root", claims: paths, binding: pathB, args: `{"path":"/../data/reports/a"}`, want: ReasonInvalidArgument},
		{name: "path relative", claims: paths, binding: pathB, args: `{"path":"data/reports/a"}`, want: ReasonInvalidArgument},
		{name: "path backslash", claims: paths, binding: pathB, args: `{"path":"/data/reports/..\\..\\etc"}`, want: ReasonInvalidArgument},
		{name: "path NUL", claims: paths, binding: pathB, args: `{"path":"/data/reports/a\u0000"}`, want: ReasonInvalidArgument},
		{name: "url canonical", claims: urls, binding: urlB, args: `{"path":"HTTPS://Docs.Example.COM:443/a/./b"}`, want: ReasonAllowed},
		{name: "url other path", claims: urls, binding: urlB, args: `{"path":"https://docs.example.com/a/b/c"}`, want: ReasonResource},
		{name: "url other host", claims: urls, binding: urlB, args: `{"path":"https://docs.example.com.evil/a/b"}`, want: ReasonResource},
		{name: "url relative", claims: urls, binding: urlB, args: `{"path":"/a/b"}`, want: ReasonInvalidArgument},
		{name: "name exact", claims: names, binding: nameB, args: `{"path":"ledger"}`, want: ReasonAllowed},
		{name: "name case differs", claims: names, binding: nameB, args: `{"path":"Ledger"}`, want: ReasonResource},
		{name: "resource number", claims: names, binding: nameB, args: `{"path":1}`, want: ReasonInvalidArgument},
		{name: "deny-all", claims: withRes(), binding: pathB, args: `{"path":"/data/reports/a"}`, want: ReasonResource},
		{name: "unrestricted", binding: pathB, args: `{"path":"/anything"}`, want: ReasonAllowed},
	})
}

func TestDecideToolAndScope(t *testing.T) {
	const ok = `{"amount":1,"currency":"USD","category":"meal"}`
	noScope := aliceClaims()
	noScope.Scopes = []string{"files:read"}
	runDecideCases(t, []decideCase{
		{name: "allowed", args: ok, want: ReasonAllowed},
		{name: "binding tool differs", tool: "delete_expense", args: ok, want: ReasonToolNotBound},
		{name: "scope missing", claims: noScope, args: ok, want: ReasonInsufficientScope,
			msg: "denied: tool submit_expense requires scope expenses:write"},
		{name: "tool not allowed", claims: aliceClaims(func(k *authority.Constraints) { k.Tools = authority.Only("read_file") }),
			args: ok, want: ReasonToolNotAllowed, msg: "denied: tool submit_expense is not allowed by this token"},
		{name: "tools deny-all", claims: aliceClaims(func(k *authority.Constraints) { k.Tools = authority.Only() }),
			args: ok, want: ReasonToolNotAllowed},
		{name: "zero constraints deny", claims: &authority.Claims{Subject: "alice", Scopes: []string{"expenses:write"}},
			args: ok, want: ReasonToolNotAllowed},
		{name: "scope before tools", claims: func() *authority.Claims {
			c := aliceClaims(func(k *authority.Constraints) { k.Tools = authority.Only() })
			c.Scopes = nil
			return c
		}(), args: ok, want: ReasonInsufficientScope},
		{name: "tools before arguments", claims: aliceClaims(func(k *authority.Constraints) { k.Tools = authority.Only() }),
			args: `[`, want: ReasonToolNotAllowed},
		{name: "amount before category", args: `{"amount":900,"currency":"USD","category":"gifts"}`, want: ReasonMaxAmount},
	})
	if d := Decide(aliceClaims(), nil, Call{Tool: "x", At: noon}); d.Reason != ReasonToolNotBound || d.Allow {
		t.Errorf("nil binding: %+v", d)
	}
	if d := Decide(nil, expenseBinding(), Call{Tool: "submit_expense", At: noon}); d.Reason != ReasonUnauthenticated || d.Allow {
		t.Errorf("nil claims: %+v", d)
	}
}

func TestDecideWindow(t *testing.T) {
	mustWindow := func(zone, start, end string) *authority.Window {
		w, err := authority.NewWindow(zone, nil, start, end)
		if err != nil {
			t.Fatal(err)
		}
		return &w
	}
	ny := aliceClaims(func(k *authority.Constraints) { k.Window = mustWindow("America/New_York", "09:00", "17:00") })
	night := aliceClaims(func(k *authority.Constraints) { k.Window = mustWindow("Europe/Paris", "22:00", "06:00") })
	badZone := aliceClaims(func(k *authority.Constraints) { k.Window = &authority.Window{Zone: "Nowhere/Atlantis"} })
	const ok = `{"amount":1,"currency":"USD","category":"meal"}`
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	runDecideCases(t, []decideCase{
		{name: "inside", claims: ny, args: ok, at: at("2026-03-04T15:00:00Z"), want: ReasonAllowed},
		{name: "start inclusive", claims: ny, args: ok, at: at("2026-03-04T14:00:00Z"), want: ReasonAllowed},
		{name: "end exclusive", claims: ny, args: ok, at: at("2026-03-04T22:00:00Z"), want: ReasonWindow},
		{name: "before", claims: ny, args: ok, at: at("2026-03-04T13:59:59Z"), want: ReasonWindow},
		// US daylight saving starts on 2026-03-08: 13:30Z is 08:30 EST on the 7th
		// but 09:30 EDT on the 9th. A fixed offset gets one of them wrong.
		{name: "EST 08:30 outside", claims: ny, args: ok, at: at("2026-03-07T13:30:00Z"), want: ReasonWindow},
		{name: "EDT 09:30 inside", claims: ny, args: ok, at: at("2026-03-09T13:30:00Z"), want: ReasonAllowed},
		{name: "EDT 08:30 outside", claims: ny, args: ok, at: at("2026-03-09T12:30:00Z"), want: ReasonWindow},
		{name: "after fall back 16:30 EST inside", claims: ny, args: ok, at: at("2026-11-02T21:30:00Z"), want: ReasonAllowed},
		{name: "before fall back 17:30 EDT outside", claims: ny, args: ok, at: at("2026-10-30T21:30:00Z"), want: ReasonWindow},
		{name: "crossing midnight late", claims: night, args: ok, at: at("2026-03-04T22:30:00Z"), want: ReasonAllowed},
		{name: "crossing midnight early", claims: night, args: ok, at: at("2026-03-05T04:59:00Z"), want: ReasonAllowed},
		{name: "crossing midnight day", claims: night, args: ok, at: at("2026-03-05T12:00:00Z"), want: ReasonWindow},
		{name: "zone fails closed", claims: badZone, args: ok, want: ReasonWindow},
	})
	d := Decide(ny, expenseBinding(), Call{Tool: "submit_expense", Arguments: json.RawMessage(ok)})
	if d.Allow || d.Reason != ReasonWindow {
		t.Errorf("zero instant with a window: %+v", d)
	}
	// Read tools respect the window too.
	d = Decide(ny, readFileBinding(ResourcePath), Call{Tool: "read_file", Arguments: json.RawMessage(`{"path":"/a"}`), At: at("2026-03-04T03:00:00Z")})
	if d.Allow || d.Reason != ReasonWindow {
		t.Errorf("read tool outside the window: %+v", d)
	}
}

func TestDecisionValues(t *testing.T) {
	d := Decide(aliceClaims(), expenseBinding(), Call{
		Tool:      "submit_expense",
		Arguments: json.RawMessage(`{"amount":120.50,"currency":"USD","category":"Travel"}`),
		At:        noon,
	})
	if !d.Allow || d.Reason != ReasonAllowed || d.Constraint != "" || d.RPCError() != nil {
		t.Fatalf("want allowed: %+v", d)
	}
	if d.Amount == nil || d.Amount.Value.String() != "120.5" || d.Amount.Currency != "USD" || d.Category != "travel" {
		t.Errorf("audit values: amount %+v category %q", d.Amount, d.Category)
	}
}

func TestRPCError(t *testing.T) {
	d := Decide(aliceClaims(), expenseBinding(), Call{
		Tool:      "submit_expense",
		Arguments: json.RawMessage(`{"amount":700,"currency":"USD","category":"travel"}`),
		At:        noon,
	})
	got, err := json.Marshal(d.RPCError())
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"code":-32030,"message":"denied: amount 700 exceeds max_amount 500","data":{"reason":"max_amount","limit":"500","value":"700"}}`
	if string(got) != want {
		t.Errorf("RPCError JSON:\n got %s\nwant %s", got, want)
	}
	for _, tc := range []struct {
		d    Decision
		code int
	}{
		{Deny(ReasonUnauthenticated, "no token"), CodeUnauthenticated},
		{Deny(ReasonRevoked, "token revoked"), CodeRevoked},
		{Deny(ReasonHoneytool, "bait"), CodeKilled},
		{Deny(ReasonKilled, "session killed"), CodeKilled},
		{Deny(ReasonUnavailable, "x"), CodeUnavailable},
		{Deny(ReasonBudget, "x"), CodeDenied},
		{Deny(ReasonApprovalRequired, "x"), CodeApprovalRequired},
		{Deny(ReasonApprovalDeclined, "x"), CodeApprovalRequired},
		{Deny(ReasonSelfApproval, "x"), CodeDenied},
		{Deny(ReasonNotApprover, "x"), CodeDenied},
		{Decision{}, CodeDenied},
	} {
		e := tc.d.RPCError()
		if e == nil || e.Code != tc.code || e.Data.Reason == ReasonAllowed || e.Message == "" {
			t.Errorf("%+v.RPCError() = %+v, want code %d", tc.d, e, tc.code)
		}
	}
	long := Decide(aliceClaims(), expenseBinding(), Call{
		Tool:      "submit_expense",
		Arguments: json.RawMessage(`{"amount":"` + strings.Repeat("9", 500) + `"}`),
		At:        noon,
	})
	if len([]rune(long.Value)) > MaxValueLen+1 || len(long.Message) > 200 {
		t.Errorf("long value not shortened: value %d runes, message %d bytes", len([]rune(long.Value)), len(long.Message))
	}
}

func TestApproval(t *testing.T) {
	var none *Approval
	if none.Approves("bob") || none.Lifetime() != DefaultApprovalTTL {
		t.Errorf("a nil Approval approves nobody and lasts the default")
	}
	a := &Approval{From: []string{"bob", "carol"}, TTL: time.Minute}
	if !a.Approves("carol") || a.Approves("alice") || a.Approves("") || a.Lifetime() != time.Minute {
		t.Errorf("Approval %+v: Approves or Lifetime wrong", a)
	}
}
