package authority

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// MaxDecimalDigits bounds the digits ParseDecimal accepts (integer and
// fraction together, a lone leading "0" not counted), so that untrusted
// amounts cannot make arithmetic expensive.
const MaxDecimalDigits = 40

// Decimal is an exact decimal number, positive, zero or negative; never a
// float64, so 500.0000001 is greater than 500. The zero value is 0.
// A Decimal is immutable and safe for concurrent use.
type Decimal struct {
	unscaled *big.Int // nil means 0; never mutated once the Decimal is built
	scale    int32    // digits after the point; unscaled has no trailing zero digit when scale > 0
}

var errDecimalSyntax = errors.New("not a plain decimal")

// ParseDecimal parses the strict form -?(0|[1-9][0-9]*)(\.[0-9]+)? : no
// exponent ("5e2"), no "NaN" or "Inf", no "+", no spaces, no leading zero
// ("01"), no bare point ("1." or ".5"), at most MaxDecimalDigits digits.
// Negative values parse ("-1"); the places that need a non-negative amount
// (Constraints, Action amounts) reject them.
func ParseDecimal(s string) (Decimal, error) {
	neg, intPart, frac, err := splitDecimal(s)
	if err != nil {
		return Decimal{}, fmt.Errorf("decimal %q: %w", truncate(s, 64), err)
	}
	digits := len(frac)
	if intPart != "0" {
		digits += len(intPart)
	}
	if digits > MaxDecimalDigits {
		return Decimal{}, fmt.Errorf("decimal %q: more than %d digits", truncate(s, 64), MaxDecimalDigits)
	}
	frac = strings.TrimRight(frac, "0")
	u, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return Decimal{}, fmt.Errorf("decimal %q: %w", truncate(s, 64), errDecimalSyntax)
	}
	if neg {
		u.Neg(u)
	}
	return newDecimal(u, int32(len(frac))), nil
}

// splitDecimal checks the syntax and returns the sign, the integer digits and
// the fraction digits.
func splitDecimal(s string) (neg bool, intPart, frac string, err error) {
	if len(s) > 2*MaxDecimalDigits+3 {
		return false, "", "", errDecimalSyntax
	}
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if !allDigits(intPart) || (hasPoint && !allDigits(frac)) {
		return false, "", "", errDecimalSyntax
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return false, "", "", errors.New("leading zero")
	}
	return neg, intPart, frac, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MustDecimal is ParseDecimal for constants; it panics on a bad literal.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// newDecimal takes ownership of u and strips trailing zero digits.
func newDecimal(u *big.Int, scale int32) Decimal {
	if u.Sign() == 0 {
		return Decimal{}
	}
	ten := big.NewInt(10)
	q, r := new(big.Int), new(big.Int)
	for scale > 0 {
		q.QuoRem(u, ten, r)
		if r.Sign() != 0 {
			break
		}
		u.Set(q)
		scale--
	}
	return Decimal{unscaled: u, scale: scale}
}

func (d Decimal) int() *big.Int {
	if d.unscaled == nil {
		return new(big.Int)
	}
	return d.unscaled
}

// rescaled returns a new big.Int holding d multiplied by 10^(scale-d.scale).
func (d Decimal) rescaled(scale int32) *big.Int {
	f := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale-d.scale)), nil)
	return f.Mul(f, d.int())
}

// Cmp returns -1, 0 or +1 as d is less than, equal to or greater than o.
func (d Decimal) Cmp(o Decimal) int {
	s := max(d.scale, o.scale)
	return d.rescaled(s).Cmp(o.rescaled(s))
}

// Equal reports d == o (it lets go-cmp compare Decimals).
func (d Decimal) Equal(o Decimal) bool { return d.Cmp(o) == 0 }

// Add returns d + o.
func (d Decimal) Add(o Decimal) Decimal {
	s := max(d.scale, o.scale)
	return newDecimal(d.rescaled(s).Add(d.rescaled(s), o.rescaled(s)), s)
}

// Sub returns d - o.
func (d Decimal) Sub(o Decimal) Decimal {
	s := max(d.scale, o.scale)
	a := d.rescaled(s)
	return newDecimal(a.Sub(a, o.rescaled(s)), s)
}

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int { return d.int().Sign() }

// IsZero reports d == 0.
func (d Decimal) IsZero() bool { return d.Sign() == 0 }

// String returns the canonical form: no exponent, no trailing zero in the
// fraction, no point for integers ("500", "499.99", "-0.5").
func (d Decimal) String() string {
	u := d.int()
	digits := new(big.Int).Abs(u).String()
	if d.scale > 0 {
		if pad := int(d.scale) + 1 - len(digits); pad > 0 {
			digits = strings.Repeat("0", pad) + digits
		}
		cut := len(digits) - int(d.scale)
		digits = digits[:cut] + "." + digits[cut:]
	}
	if u.Sign() < 0 {
		return "-" + digits
	}
	return digits
}

// MarshalJSON encodes d as a JSON string ("499.99"), which every JSON library
// keeps exactly.
func (d Decimal) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON accepts a JSON string or a JSON number literal, both checked
// with the rules of ParseDecimal (so 5e2 and null are errors).
func (d *Decimal) UnmarshalJSON(data []byte) error {
	s := string(data)
	if len(data) > 0 && data[0] == '"' {
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
