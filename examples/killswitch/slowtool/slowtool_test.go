package slowtool

import "testing"

func TestCancellations(t *testing.T) {
	tests := []struct {
		body string
		want int64
	}{
		{`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}`, 1},
		{`[{"jsonrpc":"2.0","method":"notifications/cancelled"},{"jsonrpc":"2.0","id":1,"method":"ping"},{"method":"notifications/cancelled"}]`, 2},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`, 0},
		{`not json`, 0},
	}
	for _, tt := range tests {
		if got := cancellations([]byte(tt.body)); got != tt.want {
			t.Errorf("cancellations(%s) = %d, want %d", tt.body, got, tt.want)
		}
	}
}
