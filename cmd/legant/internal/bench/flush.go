package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Flush is what one durable write costs on the disk the child gateways'
// stores live on: a 4 KiB write into a preallocated file and its
// fdatasync, as the SQLite audit journal commits (PostgreSQL's WAL flush is
// the same kind of write). Measured before the load, on an idle machine,
// writes back to back; and after it, writes spaced as a durable gateway's
// are at c=1 (Paced).
type Flush struct {
	Dir    string
	Writes int
	P50    time.Duration
	P90    time.Duration
	// Paced is the same write with the child proxy's c=1 call time between
	// writes (nil when the run has none). A virtual disk may take much
	// longer for a write that follows a pause than for one that follows
	// another write at once (on one machine here: p50 40 µs back to back,
	// 100–250 µs after a pause of 0.1–1 ms): the paced figure is what a
	// call at c=1 waits for.
	Paced *PacedFlush `json:",omitempty"`
}

// PacedFlush is the flush probe with a pause before each write.
type PacedFlush struct {
	Gap    time.Duration // the pause before each write
	Writes int
	P50    time.Duration
	P90    time.Duration
	Mean   time.Duration
}

// flushWrites is how many writes the probe times: about 40 ms on a disk
// whose flush takes 0.2 ms.
const flushWrites = 200

// pacedFlushWrites is how many writes the paced probe times: about 0.2 s
// with a call of 0.5 ms between writes.
const pacedFlushWrites = 400

// measureFlush times n 4 KiB writes, each followed by fdatasync, back to
// back, in dir.
func measureFlush(dir string, n int) (Flush, error) {
	took, err := timeFlushes(dir, n, 0)
	if err != nil {
		return Flush{}, err
	}
	slices.Sort(took)
	return Flush{Dir: filepath.Clean(dir), Writes: n, P50: took[n/2], P90: took[n*9/10]}, nil
}

// measurePacedFlush times n such writes with a pause of gap before each (a
// sleep: the gateway's thread waits in the network poller between calls).
func measurePacedFlush(dir string, n int, gap time.Duration) (*PacedFlush, error) {
	took, err := timeFlushes(dir, n, gap)
	if err != nil {
		return nil, err
	}
	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	slices.Sort(took)
	return &PacedFlush{Gap: gap, Writes: n, P50: took[n/2], P90: took[n*9/10], Mean: sum / time.Duration(n)}, nil
}

// timeFlushes times n 4 KiB writes, each followed by fdatasync and preceded
// by a pause of gap, at successive offsets of a 1 MiB file zeroed and synced
// first (so that no write extends the file or changes its metadata), in dir.
func timeFlushes(dir string, n int, gap time.Duration) ([]time.Duration, error) {
	f, err := os.CreateTemp(dir, "flush-probe-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const size, block = 1 << 20, 4096
	if _, err := f.WriteAt(make([]byte, size), 0); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	buf := make([]byte, block)
	took := make([]time.Duration, n)
	for i := range n {
		if gap > 0 {
			time.Sleep(gap)
		}
		buf[0] = byte(i)
		start := time.Now()
		if _, err := f.WriteAt(buf, int64(i%(size/block))*block); err != nil {
			return nil, err
		}
		if err := fdatasync(f); err != nil {
			return nil, fmt.Errorf("fdatasync: %w", err)
		}
		took[i] = time.Since(start)
	}
	return took, nil
}

// proxyCallAtC1 is how long one call of workload took through the child
// proxy at c=1 (zero when the run has no such row).
func (rep *Report) proxyCallAtC1(workload string) time.Duration {
	for _, r := range rep.Rows {
		if r.Workload == workload && r.Concurrency == 1 && r.Target == TargetProxyChild && r.PerSecond > 0 {
			return time.Duration(float64(time.Second) / r.PerSecond)
		}
	}
	return 0
}

// pacedFlushGap is the pause the paced probe leaves before each write: the
// child proxy's call at c=1 (call/stateful, else call/stateless), or zero.
func (rep *Report) pacedFlushGap() time.Duration {
	for _, w := range []string{WorkloadCallStateful, WorkloadCallStateless} {
		if call := rep.proxyCallAtC1(w); call > 0 {
			return call
		}
	}
	return 0
}

// FlushBound is how far one flush per call bounds a child gateway with
// durable audit at c=1: each call waits for its allow record's flush on top
// of what the child proxy's call takes, so the gateway reaches at most
// call ÷ (call + flush) of the proxy's throughput, however little else it
// adds. The flush is the paced probe's mean (throughput goes with the mean
// wait; the pause before each write is a call, as at c=1) when the run has
// it, else the back-to-back p50. Zero when the run has no flush probe or no
// child proxy at c=1.
func (rep *Report) FlushBound(workload string) float64 {
	flush := rep.flushPerCall()
	call := rep.proxyCallAtC1(workload)
	if flush <= 0 || call <= 0 {
		return 0
	}
	return float64(call) / float64(call+flush)
}

// flushPerCall is the flush a durable call at c=1 waits for (FlushBound).
func (rep *Report) flushPerCall() time.Duration {
	switch {
	case rep.Flush == nil:
		return 0
	case rep.Flush.Paced != nil:
		return rep.Flush.Paced.Mean
	}
	return rep.Flush.P50
}
