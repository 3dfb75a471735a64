package authority_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openlegant/legant/authority"
)

func TestSet(t *testing.T) {
	var zero authority.Set
	if !zero.Empty() || zero.Unrestricted() || zero.Contains("x") {
		t.Fatal("the zero Set must be deny-all")
	}
	anyS := authority.AnyOf()
	if !anyS.Unrestricted() || anyS.Empty() || !anyS.Contains("x") || anyS.Items() != nil {
		t.Fatal("AnyOf must be unrestricted")
	}
	if !authority.Only().Empty() {
		t.Fatal("Only() must be deny-all")
	}
	s := authority.Only("b", "a", "b")
	if diff := cmp.Diff([]string{"a", "b"}, s.Items()); diff != "" {
		t.Fatalf("Items (-want +got):\n%s", diff)
	}
	if items := authority.Only().Items(); items == nil || len(items) != 0 {
		t.Fatalf("deny-all Items = %#v, want empty non-nil", items)
	}
	s.Items()[0] = "zzz"
	if !s.Contains("a") {
		t.Fatal("Items must return a copy")
	}
}

func TestSetAlgebra(t *testing.T) {
	ab, bc := authority.Only("a", "b"), authority.Only("b", "c")
	anyS, none := authority.AnyOf(), authority.Only()
	tests := []struct {
		name      string
		x, y      authority.Set
		intersect authority.Set
		subset    bool
	}{
		{"overlap", ab, bc, authority.Only("b"), false},
		{"disjoint", authority.Only("a"), authority.Only("c"), none, false},
		{"any-restricted", anyS, ab, ab, false},
		{"restricted-any", ab, anyS, ab, true},
		{"any-any", anyS, anyS, anyS, true},
		{"none-any", none, anyS, none, true},
		{"none-ab", none, ab, none, true},
		{"ab-none", ab, none, none, false},
		{"sub", authority.Only("b"), ab, authority.Only("b"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.x.Intersect(tt.y); !got.Equal(tt.intersect) || got.Unrestricted() != tt.intersect.Unrestricted() {
				t.Errorf("Intersect = %v, want %v", got.Items(), tt.intersect.Items())
			}
			if got := tt.x.Subset(tt.y); got != tt.subset {
				t.Errorf("Subset = %v, want %v", got, tt.subset)
			}
		})
	}
}

func TestSetJSON(t *testing.T) {
	if _, err := json.Marshal(authority.AnyOf()); err == nil {
		t.Fatal("marshaling an unrestricted Set must fail: it is encoded by omission")
	}
	for _, tt := range []struct {
		in   string
		want []string
		err  bool
	}{
		{`["b","a"]`, []string{"a", "b"}, false},
		{`[]`, []string{}, false},
		{`null`, nil, true},
		{`"a"`, nil, true},
		{`[1]`, nil, true},
	} {
		var s authority.Set
		err := json.Unmarshal([]byte(tt.in), &s)
		if (err != nil) != tt.err {
			t.Fatalf("Unmarshal(%s): err = %v", tt.in, err)
		}
		if err == nil {
			if diff := cmp.Diff(tt.want, s.Items()); diff != "" {
				t.Errorf("Unmarshal(%s) (-want +got):\n%s", tt.in, diff)
			}
			if out, _ := json.Marshal(s); len(tt.want) == 0 && string(out) != "[]" {
				t.Errorf("deny-all marshals as %s, want []", out)
			}
		}
	}
}
