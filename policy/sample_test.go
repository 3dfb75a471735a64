package policy

import (
	"testing"

	"github.com/openlegant/legant/authority"
)

func TestSampleCall(t *testing.T) {
	nested := &Binding{
		Tool:     "pay",
		Amount:   &AmountBinding{Value: MustPointer("/payment/amount"), CurrencyPointer: MustPointer("/payment/currency")},
		Category: MustPointer("/meta/category"),
		Resource: &ResourceBinding{Value: MustPointer("/meta/account"), Kind: ResourceName},
	}
	fixed := &Binding{Tool: "submit_expense", Amount: &AmountBinding{Value: MustPointer("/amount"), Currency: "USD"}, Category: MustPointer("/category")}
	for _, tc := range []struct {
		name    string
		b       *Binding
		s       Sample
		args    string
		wantErr bool
	}{
		{name: "nested", b: nested, s: Sample{Amount: "300", Currency: "EUR", Category: "travel", Resource: "acct-1"},
			args: `{"meta":{"account":"acct-1","category":"travel"},"payment":{"amount":300,"currency":"EUR"}}`},
		{name: "fixed currency agrees", b: fixed, s: Sample{Amount: "12.50", Currency: "USD"}, args: `{"amount":12.50}`},
		{name: "fixed currency differs", b: fixed, s: Sample{Amount: "1", Currency: "EUR"}, wantErr: true},
		{name: "unbound resource", b: fixed, s: Sample{Resource: "x"}, wantErr: true},
		{name: "bad amount", b: fixed, s: Sample{Amount: "5e2"}, wantErr: true},
		{name: "nothing", b: fixed, args: `{}`},
		{name: "overlap", b: &Binding{Amount: &AmountBinding{Value: MustPointer("/a")}, Category: MustPointer("/a/b")},
			s: Sample{Amount: "1", Category: "x"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call, err := SampleCall(tc.b, tc.b.Tool, tc.s, noon)
			if (err != nil) != tc.wantErr {
				t.Fatalf("SampleCall error = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && string(call.Arguments) != tc.args {
				t.Errorf("arguments = %s, want %s", call.Arguments, tc.args)
			}
		})
	}
	// What SampleCall builds is what Decide reads.
	c := aliceClaims(func(k *authority.Constraints) { k.Tools = authority.AnyOf() })
	call, err := SampleCall(expenseBinding(), "submit_expense", Sample{Amount: "300", Currency: "USD", Category: "Travel"}, noon)
	if err != nil {
		t.Fatal(err)
	}
	if d := Decide(c, expenseBinding(), call); !d.Allow || d.Amount.Value.String() != "300" || d.Category != "travel" {
		t.Errorf("Decide(sample) = %+v", d)
	}
}

// TestSampleBinding: the registry-less binding binds what the sample carries,
// at the arguments SampleCall fills, so Decide checks exactly those values.
func TestSampleBinding(t *testing.T) {
	c := aliceClaims(func(k *authority.Constraints) { k.Resources = authority.Only("https://files.example/reports") })
	for _, tc := range []struct {
		name   string
		scope  string
		s      Sample
		kind   ResourceKind
		args   string
		reason Reason // the denial's; "" = allowed
	}{
		{name: "nothing bound", args: `{}`},
		{name: "within limits", s: Sample{Amount: "300", Currency: "USD", Category: "Travel"},
			args: `{"amount":300,"category":"Travel","currency":"USD"}`},
		{name: "over max_amount", s: Sample{Amount: "700", Currency: "USD"}, args: `{"amount":700,"currency":"USD"}`, reason: ReasonMaxAmount},
		{name: "other category", s: Sample{Category: "gifts"}, args: `{"category":"gifts"}`, reason: ReasonCategory},
		{name: "scope held", scope: "expenses:write", args: `{}`},
		{name: "scope missing", scope: "expenses:admin", args: `{}`, reason: ReasonInsufficientScope},
		{name: "url resource canonicalized", s: Sample{Resource: "HTTPS://files.example/reports"}, kind: ResourceURL,
			args: `{"resource":"HTTPS://files.example/reports"}`},
		{name: "name resource compared exactly", s: Sample{Resource: "HTTPS://files.example/reports"}, kind: ResourceName,
			args: `{"resource":"HTTPS://files.example/reports"}`, reason: ReasonResource},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := SampleBinding("submit_expense", tc.scope, tc.s, tc.kind)
			if b.Tool != "submit_expense" || b.Scope != tc.scope {
				t.Fatalf("binding %+v", b)
			}
			call, err := SampleCall(b, "submit_expense", tc.s, noon)
			if err != nil {
				t.Fatal(err)
			}
			if string(call.Arguments) != tc.args {
				t.Errorf("arguments = %s, want %s", call.Arguments, tc.args)
			}
			d := Decide(c, b, call)
			if tc.reason == "" {
				tc.reason = ReasonAllowed
			}
			if d.Allow != (tc.reason == ReasonAllowed) || d.Reason != tc.reason {
				t.Errorf("Decide = allow %v reason %q (%s), want reason %q", d.Allow, d.Reason, d.Message, tc.reason)
			}
		})
	}
}

func TestParseResourceKind(t *testing.T) {
	for _, s := range []string{"url", "path", "name"} {
		if k, err := ParseResourceKind(s); err != nil || string(k) != s {
			t.Errorf("ParseResourceKind(%q) = %q, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "URL", "file", " name"} {
		if k, err := ParseResourceKind(s); err == nil {
			t.Errorf("ParseResourceKind(%q) = %q, want an error", s, k)
		}
	}
}
