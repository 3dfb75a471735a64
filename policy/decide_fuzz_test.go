package policy

import (
	"bytes"
	"encoding/json"
	"math/big"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// fuzzToken is the constraint space FuzzDecide explores, in the plain form the
// reference evaluator reads.
type fuzzToken struct {
	max        string   // "" = no max_amount
	currency   string   // max_amount currency, "" = any
	categories []string // nil = unrestricted
	resources  []string // nil = unrestricted
	kind       ResourceKind
	window     bool // weekdays 09:00-17:00 Europe/Paris
}

func (ft fuzzToken) claims(t *testing.T) *authority.Claims {
	c := &authority.Claims{Subject: "alice", Scopes: []string{"s"}, Constraints: authority.Unrestricted()}
	c.Constraints.Tools = authority.Only("t")
	if ft.max != "" {
		c.Constraints.MaxAmount = &authority.Money{Value: authority.MustDecimal(ft.max), Currency: ft.currency}
	}
	if ft.categories != nil {
		var n []string
		for _, s := range ft.categories {
			n = append(n, authority.NormalizeCategory(s))
		}
		c.Constraints.Categories = authority.Only(n...)
	}
	if ft.resources != nil {
		var rs []string
		for _, r := range ft.resources {
			if ft.kind == ResourceURL {
				var err error
				if r, err = authority.CanonicalResource(r); err != nil {
					continue
				}
			}
			rs = append(rs, r)
		}
		c.Constraints.Resources = authority.Only(rs...)
	}
	if ft.window {
		w, err := authority.NewWindow("Europe/Paris", []time.Weekday{1, 2, 3, 4, 5}, "09:00", "17:00")
		if err != nil {
			t.Fatal(err)
		}
		c.Constraints.Window = &w
	}
	return c
}

func fuzzBinding(kind ResourceKind) *Binding {
	return &Binding{
		Tool:     "t",
		Scope:    "s",
		Amount:   &AmountBinding{Value: MustPointer("/amount"), CurrencyPointer: MustPointer("/currency")},
		Category: MustPointer("/category"),
		Resource: &ResourceBinding{Value: MustPointer("/r"), Kind: kind},
	}
}

var (
	refPlainDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	refCurrency     = regexp.MustCompile(`^[A-Z]{3}$`)
)

// refAllows is an independent evaluator written the obvious way (encoding/json,
// math/big.Rat, regexps, a segment stack) to cross-check Decide. It may allow
// more than Decide (it does not see duplicate keys, for one), never less.
func refAllows(ft fuzzToken, args []byte, at time.Time) bool {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || dec.More() || m == nil {
		return false
	}
	return refAmount(ft, m) && refCategory(ft, m) && refResource(ft, m) && refWindow(ft, at)
}

func refAmount(ft fuzzToken, m map[string]any) bool {
	n, ok := m["amount"].(json.Number)
	if !ok || !refPlainDecimal.MatchString(string(n)) {
		return false
	}
	cur := ""
	if v, present := m["currency"]; present {
		s, ok := v.(string)
		if !ok || !refCurrency.MatchString(s) {
			return false
		}
		cur = s
	}
	if ft.max == "" {
		return true
	}
	if ft.currency != "" && cur != ft.currency {
		return false
	}
	amount, _ := new(big.Rat).SetString(string(n))
	limit, _ := new(big.Rat).SetString(ft.max)
	return amount.Cmp(limit) <= 0
}

func refNormalize(s string) string {
	return strings.TrimSpace(cases.Fold().String(norm.NFC.String(s)))
}

func refCategory(ft fuzzToken, m map[string]any) bool {
	s, ok := m["category"].(string)
	if !ok || refNormalize(s) == "" {
		return false
	}
	if ft.categories == nil {
		return true
	}
	for _, c := range ft.categories {
		if refNormalize(c) == refNormalize(s) {
			return true
		}
	}
	return false
}

func refResource(ft fuzzToken, m map[string]any) bool {
	s, ok := m["r"].(string)
	if !ok || s == "" {
		return false
	}
	var canon string
	switch ft.kind {
	case ResourceURL:
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Scheme == "" || u.Host == "" {
			return false
		}
		if canon, err = authority.CanonicalResource(s); err != nil {
			return false
		}
	case ResourcePath:
		var ok bool
		if canon, ok = refPath(s); !ok {
			return false
		}
	default:
		canon = s
	}
	if ft.resources == nil {
		return true
	}
	for _, e := range ft.resources {
		if ft.kind == ResourceURL {
			e, _ = authority.CanonicalResource(e)
		}
		if canon == e || (ft.kind == ResourcePath && strings.HasSuffix(e, "/") && strings.HasPrefix(canon+"/", e)) {
			return true
		}
	}
	return false
}

// refPath resolves an absolute path with a stack of segments.
func refPath(s string) (string, bool) {
	if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "\\\x00") {
		return "", false
	}
	var stack []string
	for _, seg := range strings.Split(s, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(stack) == 0 {
				return "", false
			}
			stack = stack[:len(stack)-1]
		default:
			stack = append(stack, seg)
		}
	}
	return "/" + strings.Join(stack, "/"), true
}

func refWindow(ft fuzzToken, at time.Time) bool {
	if !ft.window {
		return true
	}
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		return false
	}
	lt := at.In(loc)
	mins := lt.Hour()*60 + lt.Minute()
	return lt.Weekday() >= time.Monday && lt.Weekday() <= time.Friday && mins >= 9*60 && mins < 17*60
}

// splitList turns "a,b" into a list; "*" is unrestricted (nil); "" is deny-all.
func splitList(s string) []string {
	if s == "*" {
		return nil
	}
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// FuzzDecide: Decide never allows what the reference evaluator denies, never
// panics, and every denial is a well-formed JSON-RPC error.
func FuzzDecide(f *testing.F) {
	f.Add(`{"amount":499.99,"currency":"USD","category":"Travel","r":"/data/a"}`, "500", "USD", "travel,meal", "/data/", uint8(1), false, int64(1772625600))
	f.Add(`{"amount":5e2,"currency":"USD","category":"travel","r":"/data/a"}`, "500", "USD", "travel", "*", uint8(1), false, int64(0))
	f.Add(`{"amount":"700","category":"meal","r":"x"}`, "1000", "", "*", "x", uint8(2), true, int64(1772625600))
	f.Add(`{"amount":1,"amount":900,"category":"meal","r":"x"}`, "10", "", "*", "*", uint8(2), false, int64(0))
	f.Add(`{"amount":0.5,"category":"cafe\u0301","r":"HTTPS://A.example:443/x"}`, "1", "", "Café", "https://a.example/x", uint8(0), false, int64(0))
	f.Add(`{"amount":1,"category":"m","r":"/../etc"}`, "", "", "*", "/", uint8(1), false, int64(0))
	f.Fuzz(func(t *testing.T, args, max, currency, cats, resources string, kind uint8, window bool, unix int64) {
		ft := fuzzToken{
			categories: splitList(cats),
			resources:  splitList(resources),
			kind:       []ResourceKind{ResourceURL, ResourcePath, ResourceName}[int(kind)%3],
			window:     window,
		}
		if d, err := authority.ParseDecimal(max); err == nil && d.Sign() >= 0 {
			ft.max = max
			if refCurrency.MatchString(currency) {
				ft.currency = currency
			}
		}
		at := time.Unix(unix%(1<<40), 0)
		d := Decide(ft.claims(t), fuzzBinding(ft.kind), Call{Tool: "t", Arguments: json.RawMessage(args), At: at})
		if d.Allow && !refAllows(ft, []byte(args), at) {
			t.Fatalf("Decide allowed what the reference denies\nargs %s\ntoken %+v\nat %s\ndecision %+v", args, ft, at, d)
		}
		if d.Allow != (d.Reason == ReasonAllowed) {
			t.Fatalf("inconsistent decision %+v", d)
		}
		if !d.Allow {
			if _, err := json.Marshal(d.RPCError()); err != nil || d.Message == "" {
				t.Fatalf("bad denial %+v: %v", d, err)
			}
		}
	})
}
