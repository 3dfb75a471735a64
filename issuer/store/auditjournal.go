package store

// The audit journal: on SQLite, an audit event is made durable by writing it
// into an append-only file beside the database with one durable write (an
// O_DIRECT|O_DSYNC write where the file system takes it, else pwrite and
// fdatasync) — about 0.1 ms, against 0.35 ms for a SQLite transaction with
// synchronous=FULL (its WAL frames for the row, two indexes and the chain
// head, then the fsync) — and an applier goroutine writes the journaled
// events into the hash chain in large batches behind it. An Append returns
// once its events are in the journal: what is acknowledged survives a crash,
// as before, and the next Open (of this process or the CLI's) applies
// whatever the journal holds that the database does not.
//
// The file is a ring of 4 KiB blocks after a header block. Each group commit
// (AuditLog's writer, or an append committing inline) writes one frame (more when it is large): a 40-byte header — magic, the
// journal sequence number (jseq) of its first event, its event count and
// length, and a 16-byte SHA-256 keyed with the journal's random id — then the
// events, padded to whole blocks so that a frame is overwritten only whole
// and recovery can find frames at block boundaries. The ring wraps only over
// frames already applied: the database's audit_journal row holds the last
// applied jseq, moved in the transaction that inserts the events, so a frame
// is free once that transaction committed. Recovery reads every block, keeps
// the frames whose sum verifies and whose events the database lacks, and
// applies them in jseq order, skipping a torn frame (its commit was never
// answered). A jseq is never used twice: the ring restarts after the highest
// one recovery saw.
//
// One process owns the journal (an exclusive flock on the file, released by
// the kernel when the process dies, kill -9 included). Another process
// opening the same database — `legant audit query` beside a running gateway —
// writes its own events straight into the database, as PostgreSQL stores
// always do, and sees the owner's events once they are applied (within
// auditApplyLinger). In the owning process every read of the log waits for
// the events appended before it (AuditLog.settle).

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/openlegant/legant/authority/audit"
)

const (
	// DefaultAuditJournalSize is the journal ring's size when
	// Options.AuditJournalSize is zero: at ~0.5 KiB per event and one 4 KiB
	// block per commit at least, it holds thousands of commits the applier
	// has not yet written; it is applied every auditApplyLinger, or as soon
	// as a quarter of it is in use.
	DefaultAuditJournalSize = 16 << 20

	journalBlock     = 4096
	journalFrameHead = 40
	// journalFrameMagic starts every frame; journalFileMagic the header block.
	journalFrameMagic = "LGNTJRN1"
	journalFileMagic  = "LGNTJHD1"

	// auditApplyLinger is how long the applier gathers journaled events
	// before writing them, unless a reader waits for them or the ring or the
	// pending list is crowded (auditJournal.crowdedLocked): one SQLite transaction
	// then carries every commit of that time. Each apply transaction writes
	// the pages it touches (the table's and three indexes' last leaves, the
	// chain head, the applied jseq) into the WAL again and syncs it, so its
	// cost is mostly fixed: gathering for 250 ms instead of 5 ms took the
	// SQLite gateway from 0.61–0.65 to 0.74–0.77 of the bare proxy at c=16
	// (docs/PERFORMANCE.md), and 1 s did no better.
	auditApplyLinger = 250 * time.Millisecond
	// auditApplyMax bounds the events one apply transaction carries.
	auditApplyMax = 4096
)

// journalDirect lets a journal append through O_DIRECT|O_DSYNC where the
// file system takes it (openDirect); tests turn it off to run the other path.
var journalDirect = true

// errForeignJournal reports a journal file whose id is not the database's.
var errForeignJournal = errors.New("store: the audit journal belongs to another database")

// errJournalFull reports an append that found no room in the ring within its
// deadline: the applier has not written the older events (the database
// refuses them). The append fails closed.
var errJournalFull = errors.New("store: audit journal full: the database has not taken the journaled events")

// journalFrame is the ring space of a frame whose events are not yet applied.
type journalFrame struct {
	last     uint64 // jseq of its last event
	off, end int64
}

type journaledEvent struct {
	jseq uint64
	ev   audit.Event
}

type auditJournal struct {
	f *os.File
	// direct, when the file system takes it, is a second descriptor of the
	// file opened O_DIRECT|O_DSYNC for appends (openDirect): a write through
	// it is durable when it returns, with no copy into the page cache and no
	// separate fdatasync. nil: appends use f and fdatasync.
	direct *os.File
	// aio, when the kernel takes it, queues the appends through direct and
	// parks the appending goroutine until they complete, leaving its
	// thread's P to other goroutines (auditjournal_aio_linux.go). nil:
	// appends pwrite through direct (or f).
	aio  *aioWriter
	path string
	id   [16]byte
	size int64

	// The writer's: guarded by AuditLog.writeMu.
	next uint64 // jseq of the next event
	// scratch is where a frame is encoded and out the block-aligned memory
	// of a write's first frame, both kept for the next write: a call's
	// append then allocates nothing here, and its goroutine's stack does not
	// grow to hold a block (which cost 4% of the gateway's CPU at c=16).
	scratch, out []byte

	mu       sync.Mutex
	failed   error            // a write or sync failed: the journal takes nothing more
	off      int64            // where the next frame goes
	frames   []journalFrame   // ring space in use (not applied), oldest first
	pending  []journaledEvent // durable, not applied, in jseq order
	applying []audit.Event    // the applier's: the events of the apply in hand
	written  uint64           // last durable jseq
	applied  uint64           // last applied jseq
	applyErr error            // the last apply's error (nil once one succeeds)
	progress chan struct{}    // closed and replaced when applied or applyErr changes

	kick    chan struct{} // buffered(1): events to apply
	hurry   chan struct{} // buffered(1): a reader waits
	urgent  atomic.Int32  // readers waiting
	linger  atomic.Int64  // auditApplyLinger (tests change it)
	stop    chan struct{}
	stopped chan struct{}

	applies   atomic.Int64 // apply transactions committed (tests, benchmarks)
	aioWrites atomic.Int64 // appends written through aio (tests)
	noApply   atomic.Bool  // tests: the applier writes nothing (what a crash leaves)
	closeOnce sync.Once
}

// journalPath is the journal file of the SQLite database at dbPath.
func journalPath(dbPath string) string { return dbPath + "-audit" }

// openJournal opens (creating) the journal of the SQLite database at dbPath,
// applies the events it holds that the database lacks, and returns it ready
// for appends. It returns nil, nil when another process owns the journal:
// this Store then writes its events to the database directly.
func (l *AuditLog) openJournal(ctx context.Context, dbPath string, size int64) (*auditJournal, error) {
	size = max(size/journalBlock, 16) * journalBlock
	path := journalPath(dbPath)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open audit journal: %w", err)
	}
	if ok, err := lockFile(f); err != nil || !ok {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("store: lock audit journal %s: %w", path, err)
		}
		l.s.log.Debug("audit journal owned by another process: appending to the database directly", "path", path)
		return nil, nil
	}
	j := &auditJournal{f: f, path: path, size: size, progress: make(chan struct{}),
		kick: make(chan struct{}, 1), hurry: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	j.linger.Store(int64(auditApplyLinger))
	if err := l.recoverJournal(ctx, j); err != nil {
		f.Close()
		return nil, err
	}
	if journalDirect {
		j.direct = openDirect(path, f)
	}
	if j.direct != nil {
		j.aio = newAIOWriter(j.direct)
	}
	return j, nil
}

// recoverJournal reads the database's journal row (creating it), applies
// what the file holds beyond it, and leaves the ring empty at size.
func (l *AuditLog) recoverJournal(ctx context.Context, j *auditJournal) error {
	var id []byte
	var applied int64
	err := l.s.db.QueryRowContext(ctx, `SELECT journal_id, applied FROM audit_journal WHERE id = 1`).Scan(&id, &applied)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		id = make([]byte, 16)
		rand.Read(id)
		if _, err := l.s.db.ExecContext(ctx, `INSERT INTO audit_journal (id, journal_id, applied) VALUES (1, $1, 0)`, id); err != nil {
			return fmt.Errorf("store: audit journal: %w", err)
		}
	case err != nil:
		return fmt.Errorf("store: audit journal: %w", err)
	case len(id) != 16:
		return fmt.Errorf("store: audit journal: the database's journal id has %d bytes", len(id))
	}
	copy(j.id[:], id)
	j.applied = uint64(applied)

	fileSize, ok, err := j.readHeader()
	if errors.Is(err, errForeignJournal) {
		// Not this database's: its events are not ours to apply (a data
		// directory put together from two installations, say).
		l.s.log.Warn("audit journal belongs to another database: formatting it anew", "path", j.path)
		ok, err = false, nil
	}
	if err != nil {
		return err
	}
	last := j.applied
	if ok {
		events, seen, err := j.scan(fileSize, j.applied)
		if err != nil {
			return err
		}
		last = max(last, seen)
		if len(events) > 0 || seen > j.applied {
			if err := l.applyRecovered(ctx, j, events, last); err != nil {
				return err
			}
			l.s.log.Warn("audit journal: applied the events a previous process left", "events", len(events), "path", j.path)
		}
	}
	j.applied, j.written, j.next = last, last, last+1
	j.off = journalBlock
	if !ok || fileSize != j.size {
		return j.format()
	}
	return nil
}

// readHeader reports the ring size the file's header gives, and false when
// the file is new, foreign (another database's journal) or not a journal.
func (j *auditJournal) readHeader() (int64, bool, error) {
	var h [journalBlock]byte
	n, err := j.f.ReadAt(h[:], 0)
	if n < len(h) {
		return 0, false, nil // new (or cut short: nothing in it was acknowledged)
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: read audit journal: %w", err)
	}
	if string(h[:8]) != journalFileMagic {
		return 0, false, nil
	}
	if [16]byte(h[8:24]) != j.id {
		return 0, false, errForeignJournal
	}
	size := int64(binary.BigEndian.Uint64(h[24:32]))
	st, err := j.f.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("store: read audit journal: %w", err)
	}
	if size < 2*journalBlock || size%journalBlock != 0 || st.Size() < size {
		return 0, false, nil
	}
	return size, true, nil
}

// format writes the header and zeroes the ring (every block allocated now,
// so that an append's fdatasync overwrites and has no file metadata to
// write), then syncs the file and its directory.
func (j *auditJournal) format() error {
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("store: format audit journal: %w", err)
	}
	var h [journalBlock]byte
	copy(h[:8], journalFileMagic)
	copy(h[8:24], j.id[:])
	binary.BigEndian.PutUint64(h[24:32], uint64(j.size))
	if _, err := j.f.WriteAt(h[:], 0); err != nil {
		return fmt.Errorf("store: format audit journal: %w", err)
	}
	zeros := make([]byte, 1<<20)
	for off := int64(journalBlock); off < j.size; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), j.size-off)
		if _, err := j.f.WriteAt(zeros[:n], off); err != nil {
			return fmt.Errorf("store: format audit journal: %w", err)
		}
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("store: format audit journal: %w", err)
	}
	return syncDir(filepath.Dir(j.path))
}

// scan reads the ring and returns the events of valid frames after applied,
// in jseq order, and the highest jseq any valid frame carries.
func (j *auditJournal) scan(size int64, applied uint64) ([]journaledEvent, uint64, error) {
	buf := make([]byte, size)
	if _, err := j.f.ReadAt(buf, 0); err != nil {
		return nil, 0, fmt.Errorf("store: read audit journal: %w", err)
	}
	type found struct {
		first uint64
		body  []byte
		count int
	}
	var frames []found
	var seen uint64
	for off := int64(journalBlock); off+journalFrameHead <= size; {
		first, count, body, n, ok := j.parseFrame(buf[off:])
		if !ok {
			off += journalBlock
			continue
		}
		seen = max(seen, first+uint64(count)-1)
		if first+uint64(count)-1 > applied {
			frames = append(frames, found{first, body, count})
		}
		off += n
	}
	sort.Slice(frames, func(a, b int) bool { return frames[a].first < frames[b].first })
	// Every valid frame after applied is taken, in jseq order, across a
	// torn one: commits are synced one at a time, so what follows a torn
	// frame was not answered either, but an event in the log whose append
	// returned an error is an outcome the error already allows.
	var out []journaledEvent
	next := applied + 1
	for _, fr := range frames {
		evs, err := decodeJournalEvents(fr.body, fr.count)
		if err != nil {
			return nil, 0, fmt.Errorf("store: audit journal frame at jseq %d: %w", fr.first, err)
		}
		for i, ev := range evs {
			if q := fr.first + uint64(i); q >= next {
				out = append(out, journaledEvent{jseq: q, ev: ev})
				next = q + 1
			}
		}
	}
	return out, seen, nil
}

// parseFrame checks the frame at the start of b: its first jseq, event
// count, body, and length in the ring (whole blocks).
func (j *auditJournal) parseFrame(b []byte) (first uint64, count int, body []byte, n int64, ok bool) {
	if len(b) < journalFrameHead || string(b[:8]) != journalFrameMagic {
		return 0, 0, nil, 0, false
	}
	first = binary.BigEndian.Uint64(b[8:16])
	count = int(binary.BigEndian.Uint32(b[16:20]))
	length := int(binary.BigEndian.Uint32(b[20:24]))
	if first == 0 || count == 0 || length > len(b)-journalFrameHead {
		return 0, 0, nil, 0, false
	}
	body = b[journalFrameHead : journalFrameHead+length]
	if sum := j.sum(b[:24], body); [16]byte(b[24:40]) != sum {
		return 0, 0, nil, 0, false
	}
	return first, count, body, roundBlock(int64(journalFrameHead + length)), true
}

// sum is the frame's check: SHA-256 keyed with the journal id, so that no
// bytes an event carries (arguments kept in the log) can pose as a frame.
func (j *auditJournal) sum(head, body []byte) [16]byte {
	h := sha256.New()
	h.Write(j.id[:])
	h.Write(head)
	h.Write(body)
	var s [16]byte
	copy(s[:], h.Sum(nil))
	return s
}

func roundBlock(n int64) int64 { return (n + journalBlock - 1) / journalBlock * journalBlock }

// maxFrame is the largest frame one append writes: a quarter of the ring, so
// that a large batch is split and the ring never waits on itself.
func (j *auditJournal) maxFrame() int64 { return (j.size - journalBlock) / 4 }

// append makes events durable in the journal and hands them to the applier.
// The caller holds writeMu: commits are written and synced one at a time (two
// syncs in flight made batches smaller for no more events per second here,
// and every sync costs ~40 µs of CPU; appends queue meanwhile and form the
// next batch). The writer goroutine's appends go through AIO where there is
// one, so that the producers queueing meanwhile run (64 producers: 32 events
// per commit instead of 3–6). blocking (an inline commit, from a log found
// idle) writes with pwrite: nothing else waits for the log then, and a pwrite
// answers 7–10 µs sooner than AIO and the poller's wake-up (one producer:
// 50 against 57–60 µs per append, BenchmarkAuditAppend).
func (j *auditJournal) append(ctx context.Context, events []audit.Event, blocking bool) error {
	first, err := j.write(ctx, events, blocking)
	if err != nil {
		return err
	}
	return j.sync(first, events)
}

// write assigns events their jseqs from j.next and writes them into the ring
// (one or more frames); it returns the first jseq.
func (j *auditJournal) write(ctx context.Context, events []audit.Event, blocking bool) (uint64, error) {
	if err := j.broken(); err != nil {
		return 0, err
	}
	first := j.next
	var frames [][]byte
	for start := 0; start < len(events); {
		frame, n := j.encodeFrame(first+uint64(start), events[start:], start == 0)
		if n == 0 {
			return 0, fmt.Errorf("store: an audit event of %d bytes does not fit the audit journal (%d bytes; raise the journal size)",
				journalEventSize(&events[start]), j.size)
		}
		frames = append(frames, frame)
		start += n
	}
	offs, err := j.reserve(ctx, frames)
	if err != nil {
		return 0, err // nothing of it was written: its jseqs stay free
	}
	j.next = first + uint64(len(events))
	if j.aio != nil && !blocking {
		err := j.aio.writeAt(frames, offs)
		switch {
		case err == nil:
			j.aioWrites.Add(1)
			return first, nil
		case !errors.Is(err, errAIOUnavailable):
			return 0, j.fail(err)
		}
		// Refused before anything was written: pwrite from now on.
		j.aio.close()
		j.aio = nil
	}
	for i, frame := range frames {
		w := j.f
		if j.direct != nil {
			w = j.direct
		}
		if _, err := w.WriteAt(frame, offs[i]); err != nil {
			return 0, j.fail(fmt.Errorf("store: audit journal write: %w", err))
		}
	}
	return first, nil
}

// sync makes the written events durable and hands them to the applier.
func (j *auditJournal) sync(first uint64, events []audit.Event) error {
	if j.direct == nil { // (a write through direct was durable when it returned)
		if err := fdatasync(j.f); err != nil {
			// After a failed sync the kernel's view of the file cannot be
			// trusted (its dirty pages may be dropped): take nothing more
			// until restart.
			return j.fail(fmt.Errorf("store: audit journal sync: %w", err))
		}
	}
	j.mu.Lock()
	for i := range events {
		j.pending = append(j.pending, journaledEvent{jseq: first + uint64(i), ev: events[i]})
	}
	j.written = first + uint64(len(events)) - 1
	wake := j.kick
	if j.crowdedLocked() {
		wake = j.hurry // apply now: appends must never wait for ring space
	}
	j.mu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
	return nil
}

// crowdedLocked reports whether the applier should not linger: a quarter of
// the ring holds frames not yet applied, or half a transaction's worth of
// events is pending. Caller holds mu.
func (j *auditJournal) crowdedLocked() bool {
	if len(j.pending) >= auditApplyMax/2 {
		return true
	}
	if len(j.frames) == 0 {
		return false
	}
	tail := j.frames[0].off
	used := j.off - tail // in use: [tail, off)
	if j.off <= tail {   // wrapped: [tail, size) and [start, off)
		used = j.size - tail + j.off - journalBlock
	}
	return used >= (j.size-journalBlock)/4
}

func (j *auditJournal) broken() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.failed
}

func (j *auditJournal) fail(err error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed == nil {
		j.failed = err
	}
	return j.failed
}

// reserve finds ring space for every frame (all or none, so that a failed
// append wrote nothing and its jseqs can be used again), waiting for the
// applier to free some when the ring is full, and records it as in use.
func (j *auditJournal) reserve(ctx context.Context, frames [][]byte) ([]int64, error) {
	offs := make([]int64, len(frames))
	for {
		j.mu.Lock()
		off0, used := j.off, len(j.frames)
		ok := true
		for i, frame := range frames {
			n := int64(len(frame))
			off, fits := j.place(n)
			if !fits {
				ok = false
				break
			}
			last := binary.BigEndian.Uint64(frame[8:16]) + uint64(binary.BigEndian.Uint32(frame[16:20])) - 1
			j.frames = append(j.frames, journalFrame{last: last, off: off, end: off + n})
			j.off, offs[i] = off+n, off
		}
		if ok {
			j.mu.Unlock()
			return offs, nil
		}
		j.off, j.frames = off0, j.frames[:used]
		ch := j.progress
		j.mu.Unlock()
		j.urgent.Add(1)
		select {
		case j.hurry <- struct{}{}:
		default:
		}
		select {
		case <-ch:
			j.urgent.Add(-1)
		case <-ctx.Done():
			j.urgent.Add(-1)
			return nil, fmt.Errorf("%w (%v)", errJournalFull, ctx.Err())
		}
	}
}

// place returns where n bytes go: after the last frame, or at the ring's
// start, without overlapping a frame not yet applied. Caller holds mu.
func (j *auditJournal) place(n int64) (int64, bool) {
	if len(j.frames) == 0 {
		if j.off+n <= j.size {
			return j.off, true
		}
		return journalBlock, journalBlock+n <= j.size
	}
	tail := j.frames[0].off
	if j.off > tail { // in use: [tail, off)
		if j.off+n <= j.size {
			return j.off, true
		}
		return journalBlock, journalBlock+n <= tail
	}
	return j.off, j.off+n <= tail // in use: [tail, size) and [start, off)
}

// encodeFrame encodes as many of events as fit one frame, from jseq first,
// into block-aligned memory: the writer's own (reused) when reuse is set,
// else fresh. The caller holds AuditLog.writeMu.
func (j *auditJournal) encodeFrame(first uint64, events []audit.Event, reuse bool) ([]byte, int) {
	limit := j.maxFrame()
	buf := j.scratch[:0]
	buf = append(buf, make([]byte, journalFrameHead)...)
	n := 0
	for i := range events {
		size := len(buf)
		buf = appendJournalEvent(buf, &events[i])
		if int64(len(buf)) > limit {
			buf = buf[:size]
			break
		}
		n++
	}
	j.scratch = buf[:0]
	if n == 0 {
		return nil, 0
	}
	body := len(buf) - journalFrameHead
	copy(buf[:8], journalFrameMagic)
	binary.BigEndian.PutUint64(buf[8:16], first)
	binary.BigEndian.PutUint32(buf[16:20], uint32(n))
	binary.BigEndian.PutUint32(buf[20:24], uint32(body))
	sum := j.sum(buf[:24], buf[journalFrameHead:])
	copy(buf[24:40], sum[:])
	size := int(roundBlock(int64(len(buf))))
	var frame []byte
	if reuse {
		if cap(j.out) < size {
			j.out = alignedBlocks(size)
		}
		frame = j.out[:size]
	} else {
		frame = alignedBlocks(size)
	}
	clear(frame[copy(frame, buf):]) // the padding: zeros, not an older frame's bytes
	return frame, n
}

// appendJournalEvent encodes an event (as prepared for the log: no sequence
// number or hashes yet) exactly: every string byte for byte, Args' nil kept
// apart from empty.
func appendJournalEvent(b []byte, e *audit.Event) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, 0) // the event's length, patched below
	b = binary.AppendVarint(b, e.Time.UnixNano())
	for _, s := range []string{string(e.Kind), e.User, e.Client, e.Upstream, e.Method, e.Tool, e.Decision, e.Reason,
		e.Constraint, e.Limit, e.Value, e.TokenID, e.SessionID, e.ArgsHash, e.ID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Agents)))
	for _, a := range e.Agents {
		b = binary.AppendUvarint(b, uint64(len(a)))
		b = append(b, a...)
	}
	if e.Args == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(e.Args)))
		b = append(b, e.Args...)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

func journalEventSize(e *audit.Event) int { return len(appendJournalEvent(nil, e)) + journalFrameHead }

// decodeJournalEvents decodes count events of a frame's body.
func decodeJournalEvents(b []byte, count int) ([]audit.Event, error) {
	out := make([]audit.Event, 0, count)
	bad := errors.New("malformed event")
	for range count {
		if len(b) < 4 {
			return nil, bad
		}
		n := int(binary.BigEndian.Uint32(b))
		if n > len(b)-4 {
			return nil, bad
		}
		r := journalReader{b: b[4 : 4+n]}
		b = b[4+n:]
		var e audit.Event
		e.Time = time.Unix(0, r.varint()).UTC()
		var kind string
		for _, s := range []*string{&kind, &e.User, &e.Client, &e.Upstream, &e.Method, &e.Tool, &e.Decision, &e.Reason,
			&e.Constraint, &e.Limit, &e.Value, &e.TokenID, &e.SessionID, &e.ArgsHash, &e.ID} {
			*s = r.str()
		}
		e.Kind = audit.Kind(kind)
		if agents := r.uvarint(); agents > 0 && agents <= uint64(len(r.b)) {
			e.Agents = make([]string, agents)
			for i := range e.Agents {
				e.Agents[i] = r.str()
			}
		}
		if r.byte() == 1 {
			e.Args = []byte(r.str())
		}
		if r.bad || len(r.b) != 0 {
			return nil, bad
		}
		out = append(out, e)
	}
	return out, nil
}

type journalReader struct {
	b   []byte
	bad bool
}

func (r *journalReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *journalReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *journalReader) str() string {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *journalReader) byte() byte {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// applyRecovered writes a previous process's journaled events and moves the
// database's applied jseq to last (past any frame a later recovery must not
// take again).
func (l *AuditLog) applyRecovered(ctx context.Context, j *auditJournal, events []journaledEvent, last uint64) error {
	if len(events) == 0 {
		return l.applyEvents(ctx, j, nil, last) // only the applied jseq moves
	}
	for len(events) > 0 {
		n := min(len(events), auditApplyMax)
		through := events[n-1].jseq
		if n == len(events) {
			through = last
		}
		if err := l.applyEvents(ctx, j, events[:n], through); err != nil {
			return fmt.Errorf("store: apply the audit journal: %w", err)
		}
		events = events[n:]
	}
	return nil
}

// applyEvents writes journaled events into the chain and moves the applied
// jseq to through, in one transaction.
func (l *AuditLog) applyEvents(ctx context.Context, j *auditJournal, events []journaledEvent, through uint64) error {
	// The chain is computed into a copy (writers may be moving the pending
	// list meanwhile), kept for the next apply: a new one was up to 1.3 MiB
	// per apply to allocate and clear.
	evs := j.applying[:0]
	for i := range events {
		evs = append(evs, events[i].ev)
	}
	defer func() { clear(evs); j.applying = evs[:0] }()
	lookup := l.uncertain.any(evs)
	err := l.writeTx(ctx, evs, lookup, through)
	if err != nil && !lookup && isEventIDConflict(err) {
		err = l.writeTx(ctx, evs, true, through)
	}
	return err
}

// applyLoop is the applier goroutine: gather, write, free ring space, until
// stopped and drained.
func (l *AuditLog) applyLoop() {
	j := l.j
	defer close(j.stopped)
	backoff := 50 * time.Millisecond
	for {
		hurried := false
		select {
		case <-j.kick:
		case <-j.hurry:
			hurried = true
		case <-j.stop:
			l.applyAll(true)
			return
		}
		if !hurried && j.urgent.Load() == 0 {
			t := time.NewTimer(time.Duration(j.linger.Load()))
			select {
			case <-t.C:
			case <-j.hurry:
			case <-j.stop:
			}
			t.Stop()
		}
		if err := l.applyAll(false); err != nil {
			select {
			case <-time.After(backoff):
			case <-j.stop:
				l.applyAll(true)
				return
			}
			backoff = min(2*backoff, 2*time.Second)
			select { // try again
			case j.kick <- struct{}{}:
			default:
			}
			continue
		}
		backoff = 50 * time.Millisecond
	}
}

// applyAll applies the pending events, auditApplyMax per transaction: those
// pending when it starts, or (drain) until none is left. Events arriving
// meanwhile wait for the next round, so that they gather.
func (l *AuditLog) applyAll(drain bool) error {
	j := l.j
	for more := true; more && !j.noApply.Load(); {
		j.mu.Lock()
		n := min(len(j.pending), auditApplyMax)
		batch := j.pending[:n:n]
		j.mu.Unlock()
		if n == 0 {
			return nil
		}
		more = drain || n == auditApplyMax
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		err := l.applyEvents(ctx, j, batch, batch[n-1].jseq)
		cancel()
		j.mu.Lock()
		if err != nil {
			if j.applyErr == nil {
				l.s.log.Error("audit events journaled but not yet written to the database", "events", len(j.pending), "err", err)
			}
			j.applyErr = err
		} else {
			if j.applyErr != nil {
				l.s.log.Info("audit journal applied again", "events", n)
			}
			j.applyErr = nil
			j.applies.Add(1)
			j.applied = batch[n-1].jseq
			// Move what arrived meanwhile to the front of the same array
			// (the applier is done with batch) and clear the rest for the
			// collector: the list then grows once to its high-water mark,
			// not on every apply (re-slicing from the front regrew it
			// all the time: 9% of BenchmarkAuditAppend's CPU).
			left := copy(j.pending, j.pending[n:])
			clear(j.pending[left:])
			j.pending = j.pending[:left]
			if left == 0 && cap(j.pending) > 2*auditApplyMax {
				// Grown by an outage of the database (the ring held
				// what it could not take): let the collector have it.
				j.pending = nil
			}
			for len(j.frames) > 0 && j.frames[0].last <= j.applied {
				j.frames = j.frames[1:]
			}
		}
		close(j.progress)
		j.progress = make(chan struct{})
		j.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// settle waits until every event the journal acknowledged before the call is
// in the database, so that this process reads its own appends. It returns
// the applier's error when the database refuses them.
func (l *AuditLog) settle(ctx context.Context) error {
	j := l.j
	if j == nil {
		return nil
	}
	j.urgent.Add(1)
	defer j.urgent.Add(-1)
	j.mu.Lock()
	target := j.written
	j.mu.Unlock()
	for tried := false; ; tried = true {
		j.mu.Lock()
		applied, ch, err := j.applied, j.progress, j.applyErr
		j.mu.Unlock()
		if applied >= target {
			return nil
		}
		if tried && err != nil {
			return fmt.Errorf("store: audit events not yet in the database: %w", err)
		}
		select {
		case j.hurry <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-j.stopped:
			j.mu.Lock()
			applied = j.applied
			j.mu.Unlock()
			if applied >= target {
				return nil
			}
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// closeJournal stops the applier (it applies what is pending first) and
// closes the file, releasing the lock.
func (j *auditJournal) close() {
	close(j.stop)
	<-j.stopped
	if j.aio != nil {
		j.aio.close()
	}
	if j.direct != nil {
		j.direct.Close()
	}
	j.f.Close()
}

// alignedBlocks returns n zeroed bytes (whole blocks) in memory aligned to a
// block, as O_DIRECT requires: every frame is encoded into such a buffer, so
// either descriptor writes it as it is.
func alignedBlocks(n int) []byte {
	buf := make([]byte, n+journalBlock)
	off := (journalBlock - int(uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%journalBlock)) % journalBlock
	return buf[off : off+n : off+n]
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
