package policy

import (
	"encoding/json"
	"testing"
)

// BenchmarkDecide measures a typical allowed submit_expense call.
func BenchmarkDecide(b *testing.B) {
	c, bind := aliceClaims(), expenseBinding()
	call := Call{
		Tool:      "submit_expense",
		Arguments: json.RawMessage(`{"amount":123.45,"currency":"USD","category":"Travel","description":"Taxi from the airport to the hotel","date":"2026-03-04"}`),
		At:        noon,
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := Decide(c, bind, call); !d.Allow {
			b.Fatal(d.Message)
		}
	}
}
