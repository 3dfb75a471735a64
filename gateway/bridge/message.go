package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// decodeBody parses a POST body: one JSON-RPC message or a non-empty batch.
// Params and results stay raw bytes (json.RawMessage), written on unchanged
// but for insignificant whitespace.
func decodeBody(data []byte) ([]jsonrpc.Message, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '[' {
		m, err := decodeMessage(data)
		if err != nil {
			return nil, err
		}
		return []jsonrpc.Message{m}, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, err
	}
	if len(raws) == 0 {
		return nil, errors.New("bridge: empty batch")
	}
	msgs := make([]jsonrpc.Message, len(raws))
	for i, raw := range raws {
		m, err := decodeMessage(raw)
		if err != nil {
			return nil, err
		}
		msgs[i] = m
	}
	return msgs, nil
}

// decodeMessage decodes one message; a request must name its method (an
// empty one would not survive re-encoding).
func decodeMessage(data []byte) (jsonrpc.Message, error) {
	m, err := jsonrpc.DecodeMessage(data)
	if err != nil {
		return nil, err
	}
	if r, ok := m.(*jsonrpc.Request); ok && r.Method == "" {
		return nil, errors.New("bridge: request without a method")
	}
	return m, nil
}

// callsOf returns the requests among msgs that expect a response.
func callsOf(msgs []jsonrpc.Message) []*jsonrpc.Request {
	var calls []*jsonrpc.Request
	for _, m := range msgs {
		if r, ok := m.(*jsonrpc.Request); ok && r.IsCall() {
			calls = append(calls, r)
		}
	}
	return calls
}

// isInitialize reports whether msgs is a single initialize request, the only
// message that may open a session.
func isInitialize(msgs []jsonrpc.Message) bool {
	if len(msgs) != 1 {
		return false
	}
	r, ok := msgs[0].(*jsonrpc.Request)
	return ok && r.IsCall() && r.Method == "initialize"
}

// progressKey returns a comparable key for the progress token in params:
// params._meta.progressToken of a request (inMeta) or params.progressToken
// of a progress notification. Tokens are strings or numbers; 1 and 1.0 are
// the same token.
func progressKey(params []byte, inMeta bool) (string, bool) {
	if len(params) == 0 {
		return "", false
	}
	var p struct {
		Meta struct {
			Token json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
		Token json.RawMessage `json:"progressToken"`
	}
	if json.Unmarshal(params, &p) != nil {
		return "", false
	}
	raw := p.Token
	if inMeta {
		raw = p.Meta.Token
	}
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return "s:" + v, true
	case float64:
		return "n:" + strconv.FormatFloat(v, 'g', -1, 64), true
	}
	return "", false
}

// writeEvent writes m as one SSE message event.
func writeEvent(w io.Writer, m jsonrpc.Message) error {
	data, err := jsonrpc.EncodeMessage(m)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.Grow(len(data) + 24)
	b.WriteString("event: message\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	_, err = w.Write(b.Bytes())
	return err
}

// writeError answers with a JSON-RPC error response and status.
func writeError(w http.ResponseWriter, status int, id jsonrpc.ID, code int64, msg string) {
	data, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: code, Message: msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(data)
}
