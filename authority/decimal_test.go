package authority_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/openlegant/legant/authority"
)

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in, want string // want "" = rejected
	}{
		{"0", "0"},
		{"500", "500"},
		{"500.00", "500"},
		{"499.99", "499.99"},
		{"0.5", "0.5"},
		{"0.000001", "0.000001"},
		{"500.0000001", "500.0000001"},
		{"-1", "-1"}, // negative parses; amounts in Constraints and Actions refuse it
		{"-0", "0"},
		{"-0.50", "-0.5"},
		{"1234567890123456789012345678901234567890", "1234567890123456789012345678901234567890"},
		{"0.1234567890123456789012345678901234567890", "0.123456789012345678901234567890123456789"},
		{"12345678901234567890123456789012345678901", ""}, // 41 digits
		{"5e2", ""},
		{"5E2", ""},
		{"NaN", ""},
		{"Inf", ""},
		{"-Inf", ""},
		{"+1", ""},
		{"01", ""},
		{"00.5", ""},
		{"1.", ""},
		{".5", ""},
		{"-.5", ""},
		{"", ""},
		{"-", ""},
		{" 1", ""},
		{"1 ", ""},
		{"1,5", ""},
		{"0x10", ""},
		{"1.2.3", ""},
		{"١٢", ""}, // Arabic-Indic digits
		{"--1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := authority.ParseDecimal(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseDecimal(%q) = %s, want error", tt.in, d)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDecimal(%q): %v", tt.in, err)
			}
			if got := d.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecimalArithmetic(t *testing.T) {
	d := authority.MustDecimal
	tests := []struct {
		a, b     string
		cmp      int
		sum, dif string
	}{
		{"500.0000001", "500", 1, "1000.0000001", "0.0000001"},
		{"500", "500.000", 0, "1000", "0"},
		{"499.99", "500", -1, "999.99", "-0.01"},
		{"0.1", "0.2", -1, "0.3", "-0.1"}, // exact, unlike float64
		{"-1", "1", -1, "0", "-2"},
		{"0", "0", 0, "0", "0"},
		{"1000000000000000000000", "0.000000000000000001", 1, "1000000000000000000000.000000000000000001", "999999999999999999999.999999999999999999"},
	}
	for _, tt := range tests {
		t.Run(tt.a+"_"+tt.b, func(t *testing.T) {
			a, b := d(tt.a), d(tt.b)
			if got := a.Cmp(b); got != tt.cmp {
				t.Errorf("Cmp = %d, want %d", got, tt.cmp)
			}
			if got := b.Cmp(a); got != -tt.cmp {
				t.Errorf("reverse Cmp = %d, want %d", got, -tt.cmp)
			}
			if got := a.Add(b).String(); got != tt.sum {
				t.Errorf("Add = %s, want %s", got, tt.sum)
			}
			if got := a.Sub(b).String(); got != tt.dif {
				t.Errorf("Sub = %s, want %s", got, tt.dif)
			}
		})
	}
}

func TestDecimalZeroValue(t *testing.T) {
	var z authority.Decimal
	if !z.IsZero() || z.Sign() != 0 || z.String() != "0" || z.Cmp(authority.MustDecimal("0.000")) != 0 {
		t.Fatalf("zero Decimal: IsZero=%v Sign=%d String=%q", z.IsZero(), z.Sign(), z)
	}
	if got := z.Add(authority.MustDecimal("1.5")).String(); got != "1.5" {
		t.Errorf("0 + 1.5 = %s", got)
	}
	if authority.MustDecimal("-2").Sign() != -1 || authority.MustDecimal("2").Sign() != 1 {
		t.Error("Sign")
	}
}

func TestDecimalImmutable(t *testing.T) {
	a := authority.MustDecimal("10")
	b := authority.MustDecimal("3")
	_ = a.Add(b)
	_ = a.Sub(b)
	if a.String() != "10" || b.String() != "3" {
		t.Fatalf("operands changed: %s %s", a, b)
	}
}

func TestDecimalJSON(t *testing.T) {
	tests := []struct {
		in, want string // want "" = error
	}{
		{`"499.99"`, "499.99"},
		{`499.99`, "499.99"},
		{`"500.0000001"`, "500.0000001"},
		{`500`, "500"},
		{`5e2`, ""},
		{`"5e2"`, ""},
		{`"NaN"`, ""},
		{`null`, ""},
		{`true`, ""},
		{`" 1"`, ""},
		{`"01"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d authority.Decimal
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %s, want error", tt.in, d)
				}
				return
			}
			if err != nil || d.String() != tt.want {
				t.Fatalf("Unmarshal(%s) = %s, %v; want %s", tt.in, d, err, tt.want)
			}
			out, err := json.Marshal(d)
			if err != nil || string(out) != `"`+tt.want+`"` {
				t.Fatalf("Marshal = %s, %v", out, err)
			}
		})
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "500", "500.0000001", "-1", "5e2", "NaN", "01", "1.", ".5", "-0.0", strings.Repeat("9", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := authority.ParseDecimal(s)
		if err != nil {
			return
		}
		// The canonical form parses back to the same value and is a fixed point.
		back, err := authority.ParseDecimal(d.String())
		if err != nil {
			t.Fatalf("ParseDecimal(%q).String() = %q does not parse: %v", s, d, err)
		}
		if back.Cmp(d) != 0 || back.String() != d.String() {
			t.Fatalf("round trip %q -> %q -> %q", s, d, back)
		}
		if strings.ContainsAny(s, "eE+ ") {
			t.Fatalf("accepted %q", s)
		}
		if d.Sub(d).Sign() != 0 || d.Add(d).Sub(d).Cmp(d) != 0 {
			t.Fatalf("arithmetic identity fails for %s", d)
		}
		var j authority.Decimal
		data, _ := json.Marshal(d)
		if err := json.Unmarshal(data, &j); err != nil || j.Cmp(d) != 0 {
			t.Fatalf("JSON round trip of %s: %s, %v", d, j, err)
		}
	})
}
