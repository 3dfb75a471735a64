package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
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
	h := sha256.New()
	w := fieldWriter{h: h}
	w.str(hashDomain)
	w.str(strconv.FormatInt(e.Seq, 10))
	w.str(CanonicalTime(e.Time))
	w.str(string(e.Kind))
	w.str(e.User)
	w.list(e.Agents)
	w.str(e.Client)
	w.str(e.Upstream)
	w.str(e.Tool)
	w.str(e.Decision)
	w.str(e.Reason)
	w.str(e.TokenID)
	w.str(e.SessionID)
	w.str(e.ArgsHash)
	w.str(e.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}

// CanonicalTime is the form a time takes in the hashed encoding: RFC 3339 in
// UTC with as many fractional-second digits as needed (nanosecond precision).
func CanonicalTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// fieldWriter writes length-prefixed fields: a uint32 big-endian byte length
// followed by the bytes.
type fieldWriter struct {
	h   hash.Hash
	buf [4]byte
}

func (w *fieldWriter) str(s string) {
	binary.BigEndian.PutUint32(w.buf[:], uint32(len(s)))
	w.h.Write(w.buf[:])
	w.h.Write([]byte(s))
}

// list writes a list as one field whose bytes are the element count (uint32
// big-endian) followed by each element as a field.
func (w *fieldWriter) list(items []string) {
	n := 4
	for _, s := range items {
		n += 4 + len(s)
	}
	binary.BigEndian.PutUint32(w.buf[:], uint32(n))
	w.h.Write(w.buf[:])
	binary.BigEndian.PutUint32(w.buf[:], uint32(len(items)))
	w.h.Write(w.buf[:])
	for _, s := range items {
		w.str(s)
	}
}
