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
// the same kind of write). Measured before the load, on an idle machine.
type Flush struct {
	Dir    string
	Writes int
	P50    time.Duration
	P90    time.Duration
}

// flushWrites is how many writes the probe times: about 40 ms on a disk
// whose flush takes 0.2 ms.
const flushWrites = 200

// measureFlush times n 4 KiB writes, each followed by fdatasync, at
// successive offsets of a 1 MiB file zeroed and synced first (so that no
// write extends the file or changes its metadata), in dir.
func measureFlush(dir string, n int) (Flush, error) {
	f, err := os.CreateTemp(dir, "flush-probe-")
	if err != nil {
		return Flush{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const size, block = 1 << 20, 4096
	if _, err := f.WriteAt(make([]byte, size), 0); err != nil {
		return Flush{}, err
	}
	if err := f.Sync(); err != nil {
		return Flush{}, err
	}
	buf := make([]byte, block)
	took := make([]time.Duration, n)
	for i := range n {
		buf[0] = byte(i)
		start := time.Now()
		if _, err := f.WriteAt(buf, int64(i%(size/block))*block); err != nil {
			return Flush{}, err
		}
		if err := fdatasync(f); err != nil {
			return Flush{}, fmt.Errorf("fdatasync: %w", err)
		}
		took[i] = time.Since(start)
	}
	slices.Sort(took)
	return Flush{Dir: filepath.Clean(dir), Writes: n, P50: took[n/2], P90: took[n*9/10]}, nil
}

// FlushBound is how far one flush per call bounds a child gateway with
// durable audit at c=1: each call waits for its allow record's flush on top
// of what the child proxy's call takes, so the gateway reaches at most
// call ÷ (call + flush) of the proxy's throughput, however little else it
// adds. Zero when the run has no flush probe or no child proxy at c=1.
func (rep *Report) FlushBound(workload string) float64 {
	if rep.Flush == nil || rep.Flush.P50 <= 0 {
		return 0
	}
	for _, r := range rep.Rows {
		if r.Workload == workload && r.Concurrency == 1 && r.Target == TargetProxyChild && r.PerSecond > 0 {
			call := time.Duration(float64(time.Second) / r.PerSecond)
			return float64(call) / float64(call+rep.Flush.P50)
		}
	}
	return 0
}
