package store

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority/audit"
)

// FuzzJournalEventRoundTrip: every event the log can hold comes back from
// the journal's encoding exactly — strings byte for byte, nil agents and
// args apart from empty ones.
func FuzzJournalEventRoundTrip(f *testing.F) {
	f.Add("allow", "alice", "agent:a\x00agent:b", "tools/call", "pay", "ünïcode ✓", []byte(`{"amount":1}`), true, int64(1733389200123456789), "id-1")
	f.Add("", "", "", "", "", "", []byte{}, false, int64(0), "")
	f.Add("deny", "\xff\xfe", "\x00", "m", "t", strings.Repeat("r", 5000), []byte(nil), true, int64(-1), "")
	f.Fuzz(func(t *testing.T, kind, user, agents, method, tool, reason string, args []byte, hasArgs bool, ns int64, id string) {
		e := audit.Event{Time: time.Unix(0, ns).UTC(), Kind: audit.Kind(kind), User: user, Client: user + "c", Upstream: tool + "u",
			Method: method, Tool: tool, Decision: kind, Reason: reason, Constraint: "c", Limit: "1", Value: "2", TokenID: id + "j",
			SessionID: id + "s", ArgsHash: "h", ID: id}
		if agents != "" {
			e.Agents = strings.Split(agents, "\x00")
		}
		if hasArgs {
			e.Args = args
			if e.Args == nil {
				e.Args = []byte{}
			}
		}
		b := appendJournalEvent(nil, &e)
		got, err := decodeJournalEvents(b, 1)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !reflect.DeepEqual(got[0], e) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got[0], e)
		}
	})
}

// FuzzJournalFrame: recovery reads whatever the file holds; no bytes make
// it panic, and a frame only parses when its keyed sum verifies.
func FuzzJournalFrame(f *testing.F) {
	j := &auditJournal{size: 64 * journalBlock}
	copy(j.id[:], "0123456789abcdef")
	ev := audit.Event{Time: time.Unix(0, 1).UTC(), Kind: audit.KindAllow, User: "alice", Agents: []string{"a"}}
	frame, _ := j.encodeFrame(7, []audit.Event{ev, ev}, false)
	f.Add(frame, uint8(2))
	f.Add(frame[:journalFrameHead+3], uint8(1))
	f.Add([]byte(journalFrameMagic+"\x00\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff\x00\x00\x00\x10"), uint8(255))
	f.Fuzz(func(t *testing.T, b []byte, count uint8) {
		decodeJournalEvents(b, int(count)) // must not panic
		first, n, body, size, ok := j.parseFrame(b)
		if !ok {
			return
		}
		if size%journalBlock != 0 || int(size) < journalFrameHead+len(body) {
			t.Fatalf("frame of %d bytes with a %d-byte body", size, len(body))
		}
		// Only a frame this journal wrote passes the keyed sum: here, the
		// seed (or a change the sum does not cover: the padding).
		if !bytes.Equal(b[:journalFrameHead], frame[:journalFrameHead]) || binary.BigEndian.Uint64(b[8:16]) != first {
			t.Fatalf("a frame the journal did not write parsed: first %d, %d events", first, n)
		}
	})
}
