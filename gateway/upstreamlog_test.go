package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

// methodLog counts the messages an upstream received, by method (a
// response counts under ""). Counting at the upstream, not at the client,
// is what proves a refusal forwarded nothing.
type methodLog struct {
	mu     sync.Mutex
	counts map[string]int
	bodies []string
}

// read records the messages of an upstream POST and restores its body.
func (l *methodLog) read(req *http.Request) {
	if req.Method != http.MethodPost {
		return
	}
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	var msgs []struct {
		Method string `json:"method"`
	}
	if err := json.Unmarshal(body, &msgs); err != nil {
		msgs = msgs[:0]
		var one struct {
			Method string `json:"method"`
		}
		json.Unmarshal(body, &one)
		msgs = append(msgs, one)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	for _, m := range msgs {
		l.counts[m.Method]++
	}
	l.bodies = append(l.bodies, string(body))
}

// count returns how many messages of method the upstream received.
func (l *methodLog) count(method string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[method]
}

// containing returns how many upstream POST bodies contain s.
func (l *methodLog) containing(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, b := range l.bodies {
		if bytes.Contains([]byte(b), []byte(s)) {
			n++
		}
	}
	return n
}
