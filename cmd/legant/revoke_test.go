package main

import (
	"strings"
	"testing"

	"github.com/openlegant/legant/issuer/store/storetest"
)

func TestRevokeCLI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newStoreCLI(t, b)
		tests := []struct {
			args    []string
			want    string // in stdout, or in the error
			wantErr bool
		}{
			{[]string{"--jti", "t-1", "--reason", "leaked", "--expires", "2030-01-01T00:00:00Z"}, "revoked jti t-1 (version 1)", false},
			{[]string{"--jti", "t-1"}, "jti t-1 was already revoked", false},
			{[]string{"--user", "bob", "--agent", "x"}, "none of the others can be", true},
			{[]string{"--reason", "no target"}, "at least one of the flags", true},
			{[]string{"--jti", "t-2", "--expires", "tomorrow"}, "--expires", true},
		}
		for _, tt := range tests {
			out, err := s.run(t, append([]string{"revoke"}, tt.args...)...)
			got := out
			if err != nil {
				got = err.Error()
			}
			if (err != nil) != tt.wantErr || !strings.Contains(got, tt.want) {
				t.Errorf("revoke %v = %q, %v; want %q (error %v)", tt.args, out, err, tt.want, tt.wantErr)
			}
		}
	})
}
