package virtual

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// The virtual server forwards JSON-RPC messages as bytes: a message is
// decoded only as far as routing needs (its id, method, and the top-level
// members of its params), and what a member answers is streamed back
// unchanged but for the ids of the member's own requests to the client.

// message is one JSON-RPC message, its parts kept raw.
type message struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

func (m *message) hasID() bool { return len(m.ID) > 0 && string(m.ID) != "null" }

func (m *message) isRequest() bool      { return m.Method != "" && m.hasID() }
func (m *message) isNotification() bool { return m.Method != "" && !m.hasID() }
func (m *message) isResponse() bool     { return m.Method == "" && m.hasID() }

// head is what routing reads of a member's message: its id and method
// (encoding/json skips the rest without building it).
type head struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
}

// idKey is an id as a map key: numbers and strings never collide.
func idKey(id json.RawMessage) string { return string(bytes.TrimSpace(id)) }

// request encodes a request (id nil: a notification).
func request(id json.RawMessage, method string, params json.RawMessage) []byte {
	var b bytes.Buffer
	b.Grow(len(params) + len(method) + 64)
	b.WriteString(`{"jsonrpc":"2.0",`)
	if id != nil {
		b.WriteString(`"id":`)
		b.Write(id)
		b.WriteByte(',')
	}
	b.WriteString(`"method":`)
	b.Write(quote(method))
	if len(params) > 0 {
		b.WriteString(`,"params":`)
		b.Write(params)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// response encodes a response carrying result or errObj.
func response(id json.RawMessage, result, errObj json.RawMessage) []byte {
	var b bytes.Buffer
	b.WriteString(`{"jsonrpc":"2.0","id":`)
	b.Write(id)
	if errObj != nil {
		b.WriteString(`,"error":`)
		b.Write(errObj)
	} else {
		b.WriteString(`,"result":`)
		b.Write(result)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func quote(s string) []byte {
	b, _ := jsontext.AppendQuote(nil, s)
	return b
}

// rpcError is a JSON-RPC error.
type rpcError struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
	// status is the HTTP status a member answered it with, when not 200
	// (a request it refused outright, such as a bad header or _meta).
	status int
}

func (e *rpcError) Error() string { return fmt.Sprintf("%s (%d)", e.Message, e.Code) }

func (e *rpcError) raw() json.RawMessage {
	b, _ := json.Marshal(e)
	return b
}

// Standard JSON-RPC codes.
const (
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternal       = -32603
)

// writeJSON answers with one JSON body.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeResult(w http.ResponseWriter, id, result json.RawMessage) {
	writeAnswer(w, http.StatusOK, response(id, result, nil))
}

// streamWriter marks the writer of a request whose client accepts an event
// stream: the virtual server's own answers are then one-event streams, as
// a go-sdk server's are (a member's answers keep the member's form).
type streamWriter struct{ http.ResponseWriter }

func (w streamWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func acceptsStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/event-stream") {
			return true
		}
	}
	return false
}

// writeAnswer writes the virtual server's own answer.
func writeAnswer(w http.ResponseWriter, status int, body []byte) {
	if _, ok := w.(streamWriter); ok && status == http.StatusOK && w.Header().Get("Content-Type") == "" {
		startEventStream(w)
		_ = writeEvent(w, body)
		return
	}
	if w.Header().Get("Content-Type") == "text/event-stream" {
		_ = writeEvent(w, body)
		return
	}
	writeJSON(w, status, body)
}

func writeError(w http.ResponseWriter, status int, id json.RawMessage, err error) {
	var re *rpcError
	if !errors.As(err, &re) {
		re = &rpcError{Code: codeInternal, Message: err.Error()}
	}
	if id == nil {
		id = json.RawMessage("null")
	}
	writeAnswer(w, status, response(id, nil, re.raw()))
}

// writeEvent writes data as one SSE message event and flushes it.
func writeEvent(w http.ResponseWriter, data []byte) error {
	buf := make([]byte, 0, len(data)+24)
	buf = append(buf, "event: message\ndata: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

func startEventStream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// maxEventBytes bounds one event of a member's stream.
const maxEventBytes = 32 << 20

// sseReader reads the data of a member's SSE events (event names, ids and
// retry fields are not used: the virtual server does not resume streams).
type sseReader struct {
	r *bufio.Reader
}

var sseBuffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 8192) }}

// newSSEReader reads r with a pooled buffer, which release returns.
func newSSEReader(r io.Reader) *sseReader {
	br := sseBuffers.Get().(*bufio.Reader)
	br.Reset(r)
	return &sseReader{r: br}
}

// release returns the reader's buffer to the pool; the reader is not used
// after.
func (s *sseReader) release() {
	if s.r != nil {
		s.r.Reset(nil)
		sseBuffers.Put(s.r)
		s.r = nil
	}
}

// next returns the data of the next event that has any.
func (s *sseReader) next() ([]byte, error) {
	var data []byte
	has := false
	for {
		line, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				if len(long) > maxEventBytes {
					return nil, errors.New("event too large")
				}
				line, err = s.r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && (len(line) == 0 || !errors.Is(err, io.EOF)) {
			if has && errors.Is(err, io.EOF) {
				return data, nil
			}
			return nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if has {
				return data, nil
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if string(field) != "data" {
			continue
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if has {
			data = append(data, '\n')
		}
		data = append(data, value...)
		has = true
		if len(data) > maxEventBytes {
			return nil, errors.New("event too large")
		}
	}
}

// drain reads what is left of a member's answer (the end of its stream,
// right after the answer) and closes it, so that its connection is used
// again; a stream that does not end soon is closed as it is.
func drain(body io.ReadCloser) {
	t := time.AfterFunc(drainTimeout, func() { body.Close() })
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 1<<16))
	t.Stop()
	body.Close()
}

const drainTimeout = 100 * time.Millisecond

// isEventStream reports whether resp carries an SSE stream.
func isEventStream(resp *http.Response) bool {
	ct := resp.Header.Get("Content-Type")
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "text/event-stream")
}

// Ids of members' requests to the client: a member's id v becomes the
// string "legant-vm<i>:<v as JSON>", i the member's index, so that two
// members' ids never collide; the client's answer is routed back by it.
const memberIDPrefix = "legant-vm"

func mapMemberID(idx int, id json.RawMessage) json.RawMessage {
	return quote(memberIDPrefix + strconv.Itoa(idx) + ":" + string(bytes.TrimSpace(id)))
}

func unmapMemberID(id json.RawMessage) (idx int, orig json.RawMessage, ok bool) {
	var s string
	if json.Unmarshal(id, &s) != nil || !strings.HasPrefix(s, memberIDPrefix) {
		return 0, nil, false
	}
	n, rest, found := strings.Cut(s[len(memberIDPrefix):], ":")
	if !found {
		return 0, nil, false
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 || !json.Valid([]byte(rest)) {
		return 0, nil, false
	}
	return i, json.RawMessage(rest), true
}

// withID returns data, a JSON-RPC message, with its id replaced.
func withID(data []byte, id json.RawMessage) ([]byte, error) {
	m, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	m["id"] = id
	return m.encode(), nil
}

// object is a JSON object's members, kept raw.
type object map[string]json.RawMessage

func decodeObject(raw json.RawMessage) (object, error) {
	o := object{}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return o, nil
	}
	err := eachMember(raw, func(name string, v jsontext.Value) error {
		o[name] = json.RawMessage(slices.Clone(v))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

func (o object) encode() json.RawMessage { return appendObject(nil, o) }

func (o object) str(key string) string {
	if v, ok := o[key]; ok && len(v) > 0 && v[0] == '"' {
		return unquote(jsontext.Value(v))
	}
	return ""
}

func (o object) setStr(key, v string) { o[key] = quote(v) }

// Keys of _meta that describe the client's own hop (its protocol revision,
// identity and capabilities, SEP-2575): a member reached through a session
// of its own has its own, and an older member refuses a request claiming a
// newer revision.
var hopMetaKeys = []string{
	"io.modelcontextprotocol/protocolVersion",
	"io.modelcontextprotocol/clientInfo",
	"io.modelcontextprotocol/clientCapabilities",
}

// stripHopMeta returns params without the hop keys of its _meta.
func stripHopMeta(params object) object {
	meta, ok := params["_meta"]
	if !ok {
		return params
	}
	m, err := decodeObject(meta)
	if err != nil {
		return params
	}
	for _, k := range hopMetaKeys {
		delete(m, k)
	}
	out := make(object, len(params))
	for k, v := range params {
		out[k] = v
	}
	if len(m) == 0 {
		delete(out, "_meta")
	} else {
		out["_meta"] = m.encode()
	}
	return out
}
