package virtual

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Merged lists are paginated with the virtual server's own cursors: the
// members' cursors never reach the client (each list is read whole from
// every member). A cursor is opaque: the offset of the next page and a MAC,
// under the handler's random key, over the list kind, the offset, the
// session (the gateway binds a session to one principal) and a digest of
// the merged list's names. A cursor from another session, another list or
// a list that changed meanwhile is refused with -32602 (the client starts
// over), so a page never skips or repeats an item silently.

// PageSize is the number of items in a page of a merged list.
const PageSize = 500

// page returns the page of items (named by names) the cursor points to,
// and the cursor of the next page.
func (s *session) page(kind string, items []json.RawMessage, names []string, cursor string) ([]json.RawMessage, string, error) {
	digest := sha256.New()
	for _, n := range names {
		fmt.Fprintf(digest, "%d:%s;", len(n), n)
	}
	sum := digest.Sum(nil)
	offset := 0
	if cursor != "" {
		o, ok := s.h.openCursor(s.id, kind, sum, cursor)
		if !ok || o > len(items) {
			return nil, "", &rpcError{Code: codeInvalidParams, Message: "invalid cursor (the list may have changed: list again from the start)"}
		}
		offset = o
	}
	end := min(offset+PageSize, len(items))
	next := ""
	if end < len(items) {
		next = s.h.sealCursor(s.id, kind, sum, end)
	}
	return items[offset:end], next, nil
}

func (h *Handler) cursorMAC(session, kind string, digest []byte, offset int) []byte {
	m := hmac.New(sha256.New, h.cursorKey[:])
	fmt.Fprintf(m, "%d:%s;%d:%s;", len(session), session, len(kind), kind)
	m.Write(digest)
	var o [8]byte
	binary.BigEndian.PutUint64(o[:], uint64(offset))
	m.Write(o[:])
	return m.Sum(nil)
}

func (h *Handler) sealCursor(session, kind string, digest []byte, offset int) string {
	var o [8]byte
	binary.BigEndian.PutUint64(o[:], uint64(offset))
	return base64.RawURLEncoding.EncodeToString(append(o[:], h.cursorMAC(session, kind, digest, offset)...))
}

func (h *Handler) openCursor(session, kind string, digest []byte, cursor string) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) != 8+sha256.Size {
		return 0, false
	}
	offset := binary.BigEndian.Uint64(raw[:8])
	if offset > 1<<31 {
		return 0, false
	}
	if !hmac.Equal(raw[8:], h.cursorMAC(session, kind, digest, int(offset))) {
		return 0, false
	}
	return int(offset), true
}
