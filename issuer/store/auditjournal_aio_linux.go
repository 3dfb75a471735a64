package store

// The journal's appends through Linux's native AIO. A pwrite through the
// O_DIRECT|O_DSYNC descriptor blocks its thread for the whole write and flush
// and, with it, the Go scheduler's P that thread holds, until the runtime's
// monitor takes the P back (20 µs to 10 ms later) and wakes another thread
// for it. While the writer goroutine's pwrite held one of two Ps, the
// producers queueing behind it ran on the other or not at all: with 64
// producers (BenchmarkAuditAppend) a commit carried 3–6 events.
//
// io_submit queues the write and returns (13 µs here: an O_DIRECT overwrite
// of allocated blocks does not block; the kernel flushes the disk's cache
// for O_DSYNC before it completes the request); the completion is signalled
// on an eventfd that Go's network poller watches, so the writer goroutine
// parks as it would on a socket and its P runs the producers meanwhile: 32
// events per commit with 64 producers, a sixth of the durable writes, and
// 15.5–17 µs of CPU per event instead of 18–18.6. The result is the same
// durable write: a request completes only once its data is on stable
// storage, as a pwrite through the same descriptor returns.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// journalAIO lets the journal append through AIO where the kernel takes it;
// tests turn it off to run the pwrite path.
var journalAIO = true

const (
	aioMaxEvents  = 64 // requests in flight at most (frames of one append)
	iocbCmdPwrite = 1  // IOCB_CMD_PWRITE
	iocbFlagResfd = 1  // IOCB_FLAG_RESFD: signal the eventfd in aio_resfd
	efdNonblock   = syscall.O_NONBLOCK
	efdCloexec    = syscall.O_CLOEXEC
)

// iocb is struct iocb of linux/aio_abi.h (little-endian field order).
type iocb struct {
	data      uint64
	key       uint32
	rwFlags   int32
	opcode    uint16
	reqprio   int16
	fildes    uint32
	buf       uint64
	nbytes    uint64
	offset    int64
	reserved2 uint64
	flags     uint32
	resfd     uint32
}

// ioEvent is struct io_event.
type ioEvent struct {
	data, obj uint64
	res, res2 int64
}

// aioWriter writes blocks through one AIO context, one batch at a time (the
// caller holds AuditLog.writeMu).
type aioWriter struct {
	ctx    uintptr  // aio_context_t
	efd    *os.File // the eventfd completions are signalled on, in the poller
	resfd  uint32   // its descriptor (efd.Fd would make it blocking)
	fd     uint32   // the O_DIRECT|O_DSYNC descriptor
	iocbs  [aioMaxEvents]iocb
	ptrs   [aioMaxEvents]*iocb
	events [aioMaxEvents]ioEvent
	count  [8]byte
}

// newAIOWriter sets up an AIO context and its eventfd for writes through
// direct. It returns nil when the kernel refuses either (no AIO, the
// system-wide aio-max-nr reached, a sandbox) or on a big-endian machine
// (iocb's key and rw_flags swap places there): the journal then uses pwrite.
func newAIOWriter(direct *os.File) *aioWriter {
	if !journalAIO || binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return nil
	}
	var ctx uintptr
	if _, _, e := syscall.Syscall(syscall.SYS_IO_SETUP, aioMaxEvents, uintptr(unsafe.Pointer(&ctx)), 0); e != 0 {
		return nil
	}
	fd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, efdNonblock|efdCloexec, 0)
	if e != 0 {
		syscall.Syscall(syscall.SYS_IO_DESTROY, ctx, 0, 0)
		return nil
	}
	// A non-blocking descriptor: os.NewFile puts it in the poller, so a
	// Read parks the goroutine instead of blocking its thread.
	efd := os.NewFile(fd, "audit-journal-aio")
	a := &aioWriter{ctx: ctx, efd: efd, resfd: uint32(fd), fd: uint32(direct.Fd())}
	for i := range a.ptrs {
		a.ptrs[i] = &a.iocbs[i]
	}
	return a
}

// errAIOUnavailable reports a write the kernel would not queue (nothing of it
// was written): the caller writes it with pwrite instead.
var errAIOUnavailable = errors.New("store: audit journal: AIO refused the write")

// writeAt writes each frame at its offset and returns once every write has
// completed (durable: the descriptor is O_DSYNC). It returns
// errAIOUnavailable, having written nothing, when the kernel refuses to
// queue the first request.
func (a *aioWriter) writeAt(frames [][]byte, offs []int64) error {
	for start := 0; start < len(frames); start += aioMaxEvents {
		end := min(start+aioMaxEvents, len(frames))
		if err := a.batch(frames[start:end], offs[start:end], start == 0); err != nil {
			return err
		}
	}
	return nil
}

// batch writes up to aioMaxEvents frames and waits for all of them.
func (a *aioWriter) batch(frames [][]byte, offs []int64, first bool) error {
	n := len(frames)
	for i, frame := range frames {
		a.iocbs[i] = iocb{data: uint64(i), opcode: iocbCmdPwrite, fildes: a.fd,
			buf: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(frame)))), nbytes: uint64(len(frame)),
			offset: offs[i], flags: iocbFlagResfd, resfd: a.resfd}
	}
	submitted := 0
	for submitted < n {
		r, _, e := syscall.Syscall(syscall.SYS_IO_SUBMIT, a.ctx, uintptr(n-submitted), uintptr(unsafe.Pointer(&a.ptrs[submitted])))
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0 && submitted == 0 && first:
			return fmt.Errorf("%w: %v", errAIOUnavailable, e)
		case e != 0:
			// Some requests are queued: wait for them, then fail (the
			// journal is marked failed and takes nothing more).
			werr := a.wait(submitted, frames)
			return errors.Join(fmt.Errorf("store: audit journal AIO submit: %w", e), werr)
		}
		submitted += int(r)
	}
	err := a.wait(n, frames)
	runtime.KeepAlive(frames)
	return err
}

// wait reaps n completions, parking on the eventfd between them, and
// reports the first failed or short write.
func (a *aioWriter) wait(n int, frames [][]byte) error {
	var err error
	for got := 0; got < n; {
		if _, rerr := a.efd.Read(a.count[:]); rerr != nil {
			// The eventfd cannot fail while open; should it, the
			// requests still complete: reap them blocking.
			r, _, e := syscall.Syscall6(syscall.SYS_IO_GETEVENTS, a.ctx, uintptr(n-got), uintptr(n-got),
				uintptr(unsafe.Pointer(&a.events[0])), 0, 0)
			if e != 0 {
				return errors.Join(err, rerr, fmt.Errorf("store: audit journal AIO: %w", e))
			}
			got += a.check(int(r), frames, &err)
			continue
		}
		var zero syscall.Timespec
		r, _, e := syscall.Syscall6(syscall.SYS_IO_GETEVENTS, a.ctx, 0, uintptr(n-got),
			uintptr(unsafe.Pointer(&a.events[0])), uintptr(unsafe.Pointer(&zero)), 0)
		if e != 0 && e != syscall.EINTR {
			return errors.Join(err, fmt.Errorf("store: audit journal AIO: %w", e))
		}
		got += a.check(int(r), frames, &err)
	}
	return err
}

// check reads r completions into err (the first failure) and returns r.
func (a *aioWriter) check(r int, frames [][]byte, err *error) int {
	for _, ev := range a.events[:r] {
		want := int64(len(frames[ev.data]))
		switch {
		case *err != nil:
		case ev.res < 0:
			*err = fmt.Errorf("store: audit journal write: %w", syscall.Errno(-ev.res))
		case ev.res != want:
			*err = fmt.Errorf("store: audit journal write: %d of %d bytes", ev.res, want)
		}
	}
	return r
}

// close releases the context and the eventfd (no write is in flight: the
// caller holds writeMu or the journal is closing).
func (a *aioWriter) close() {
	syscall.Syscall(syscall.SYS_IO_DESTROY, a.ctx, 0, 0)
	a.efd.Close()
}
