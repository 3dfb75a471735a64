package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// hashDomain is the first field of every hashed encoding; it changes if the
// encoding ever does.
const hashDomain = "legant-audit-v1"

// ComputeHash returns the hash event e must carry given e.PrevHash: the
// lowercase hex SHA-256 of the canonical encoding of its fields (see the
// package documentation). Args and Hash itself are not covered.
func (e *Event) ComputeHash() string {
	var w fieldWriter
	w.buf = make([]byte, 0, 512)
	w.str(hashDomain)
	w.buf = strconv.AppendInt(w.lenPrefixed(), e.Seq, 10)
	w.patch()
	w.buf = e.Time.UTC().AppendFormat(w.lenPrefixed(), time.RFC3339Nano)
	w.patch()
	w.str(string(e.Kind))
	w.str(e.User)
	w.list(e.Agents)
	w.str(e.Client)
	w.str(e.Upstream)
	w.str(e.Method)
	w.str(e.Tool)
	w.str(e.Decision)
	w.str(e.Reason)
	w.str(e.Constraint)
	w.str(e.Limit)
	w.str(e.Value)
	w.str(e.TokenID)
	w.str(e.SessionID)
	w.str(e.ArgsHash)
	w.str(e.PrevHash)
	sum := sha256.Sum256(w.buf)
	return hex.EncodeToString(sum[:])
}

// CanonicalTime is the form a time takes in the hashed encoding: RFC 3339 in
// UTC with as many fractional-second digits as needed (nanosecond precision).
func CanonicalTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// fieldWriter builds the encoding: each field is a uint32 big-endian byte
// length followed by the bytes.
type fieldWriter struct {
	buf   []byte
	start int // where the field being appended by lenPrefixed begins
}

func (w *fieldWriter) str(s string) {
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(s)))
	w.buf = append(w.buf, s...)
}

// lenPrefixed reserves a length prefix for a field whose bytes the caller
// appends to the returned buffer; patch then fills the length in.
func (w *fieldWriter) lenPrefixed() []byte {
	w.buf = append(w.buf, 0, 0, 0, 0)
	w.start = len(w.buf)
	return w.buf
}

func (w *fieldWriter) patch() {
	binary.BigEndian.PutUint32(w.buf[w.start-4:], uint32(len(w.buf)-w.start))
}

// list writes a list as one field whose bytes are the element count (uint32
// big-endian) followed by each element as a field.
func (w *fieldWriter) list(items []string) {
	w.lenPrefixed()
	start := w.start
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(items)))
	for _, s := range items {
		w.str(s)
	}
	w.start = start
	w.patch()
}
