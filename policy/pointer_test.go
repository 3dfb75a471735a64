package policy

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParsePointer(t *testing.T) {
	for _, tc := range []struct {
		in     string
		tokens []string
		bad    bool
	}{
		{in: "/amount", tokens: []string{"amount"}},
		{in: "/payee/iban", tokens: []string{"payee", "iban"}},
		{in: "/a~1b/c~0d", tokens: []string{"a/b", "c~d"}},
		{in: "/", tokens: []string{""}},
		{in: "", bad: true},
		{in: "amount", bad: true},
		{in: "/a~2", bad: true},
		{in: "/a~", bad: true},
	} {
		p, err := ParsePointer(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("ParsePointer(%q) error = %v, want bad=%v", tc.in, err, tc.bad)
			continue
		}
		if tc.bad {
			if !errors.Is(err, ErrBadPointer) {
				t.Errorf("ParsePointer(%q) error %v is not ErrBadPointer", tc.in, err)
			}
			continue
		}
		if got := p.Tokens(); len(got) != len(tc.tokens) {
			t.Errorf("ParsePointer(%q).Tokens() = %q, want %q", tc.in, got, tc.tokens)
		} else {
			for i := range got {
				if got[i] != tc.tokens[i] {
					t.Errorf("ParsePointer(%q).Tokens() = %q, want %q", tc.in, got, tc.tokens)
				}
			}
		}
		if p.String() != tc.in || p.IsZero() {
			t.Errorf("ParsePointer(%q) = %q zero=%v", tc.in, p.String(), p.IsZero())
		}
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		ptr, doc string
		want     string // raw value; "" = not found
		err      error
	}{
		{ptr: "/a", doc: `{"a":1}`, want: `1`},
		{ptr: "/a", doc: ` { "a" : "x y" , "b":2 } `, want: `"x y"`},
		{ptr: "/a/b", doc: `{"a":{"b":[1,{"c":"}"}]}}`, want: `[1,{"c":"}"}]`},
		{ptr: "/a/b/1/c", doc: `{"a":{"b":[1,{"c":"}"}]}}`, want: `"}"`},
		{ptr: "/a~1b", doc: `{"a/b":true}`, want: `true`},
		{ptr: "/a", doc: `{"b":{"a":1}}`},
		{ptr: "/0", doc: `["x","y"]`, want: `"x"`},
		{ptr: "/01", doc: `["x","y"]`},
		{ptr: "/-", doc: `["x","y"]`},
		{ptr: "/+1", doc: `["x","y"]`},
		{ptr: "/-0", doc: `["x","y"]`},
		{ptr: "/1", doc: ` [ "x" , {"a":[1,2]} ] `, want: `{"a":[1,2]}`},
		{ptr: "/2", doc: `["x","y"]`},
		{ptr: "/a/b", doc: `{"a":5}`},
		{ptr: "/a", doc: `{"a":"\"quoted\" {"}`, want: `"\"quoted\" {"`},
		{ptr: "/a", doc: `{"x":"\\","a":-1.5e3}`, want: `-1.5e3`},
		{ptr: "/a", doc: ``},
		{ptr: "/a", doc: `{"a":1,"a":2}`, err: ErrDuplicateKey},
		{ptr: "/a", doc: `{"a":1,"\u0061":2}`, err: ErrDuplicateKey},
		{ptr: "/key", doc: `{"key":1,"KEY":2}`, err: ErrAmbiguousKey},
		{ptr: "/key", doc: "{\"key\":1,\"\u212aey\":2}", err: ErrAmbiguousKey}, // KELVIN SIGN folds to k
		{ptr: "/a/b", doc: `{"a":{"b":1,"b":2}}`, err: ErrDuplicateKey},
		{ptr: "/a/b", doc: `{"a":{"b":1},"a":{"b":2}}`, err: ErrDuplicateKey},
		{ptr: "/a", doc: `{"a":1,"c":1,"c":2}`, want: `1`}, // off the path
		{ptr: "/a", doc: `{"a":1`, err: ErrInvalidJSON},
		{ptr: "/a", doc: "{\"a\":\"\xc3\"}", err: ErrInvalidJSON},
		{ptr: "/a", doc: `{"a":NaN}`, err: ErrInvalidJSON},
	} {
		got, ok, err := MustPointer(tc.ptr).Lookup(json.RawMessage(tc.doc))
		switch {
		case tc.err != nil:
			if !errors.Is(err, tc.err) {
				t.Errorf("Lookup(%s, %s) error = %v, want %v", tc.ptr, tc.doc, err, tc.err)
			}
		case err != nil:
			t.Errorf("Lookup(%s, %s) error = %v", tc.ptr, tc.doc, err)
		case ok != (tc.want != "") || string(got) != tc.want:
			t.Errorf("Lookup(%s, %s) = %s, %v; want %s", tc.ptr, tc.doc, got, ok, tc.want)
		}
	}
}

// FuzzLookup: Lookup never panics, and what it finds in a document without
// duplicate keys is what encoding/json finds there.
func FuzzLookup(f *testing.F) {
	f.Add(`{"a":{"b":[1,2]}}`, "/a/b/1")
	f.Add(`{"a":"x","b":{"a":3}}`, "/b/a")
	f.Add(`[{"x":[]}]`, "/0/x")
	f.Fuzz(func(t *testing.T, doc, ptr string) {
		p, err := ParsePointer(ptr)
		if err != nil {
			return
		}
		got, ok, err := p.Lookup(json.RawMessage(doc))
		if err != nil || !ok {
			return
		}
		var mine, theirs any
		if err := json.Unmarshal(got, &mine); err != nil {
			t.Fatalf("Lookup returned invalid JSON %q: %v", got, err)
		}
		var root any
		if err := json.Unmarshal([]byte(doc), &root); err != nil {
			t.Fatalf("Lookup found a value in invalid JSON %q", doc)
		}
		theirs, found := walk(root, p.Tokens())
		if !found {
			t.Fatalf("Lookup(%q, %q) found %s, encoding/json finds nothing", ptr, doc, got)
		}
		a, _ := json.Marshal(mine)
		b, _ := json.Marshal(theirs)
		if string(a) != string(b) {
			t.Fatalf("Lookup(%q, %q) = %s, encoding/json gives %s", ptr, doc, a, b)
		}
	})
}

func walk(v any, tokens []string) (any, bool) {
	for _, tok := range tokens {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil, false
			}
		case []any:
			i := 0
			if tok == "" || (len(tok) > 1 && tok[0] == '0') {
				return nil, false
			}
			for _, c := range tok {
				if c < '0' || c > '9' {
					return nil, false
				}
				i = i*10 + int(c-'0')
				if i > len(x) {
					return nil, false
				}
			}
			if i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}
