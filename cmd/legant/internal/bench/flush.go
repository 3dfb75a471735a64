package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Flush is what one durable write costs on the disk the child gateways'
// stores live on: a 4 KiB write into a preallocated file and its
// fdatasync, as the SQLite audit journal commits (PostgreSQL's WAL flush is
// the same kind of write), back to back, measured before the load on an
// idle machine. It is the disk's best case: on the virtual disks measured
// here a write that follows a pause took 2–10 times as long (40 µs back to
// back; 100–470 µs at p50 after 0.3–0.5 ms), so what a durable call waits
// for is read from the child gateways themselves (DurableBounds).
type Flush struct {
	Dir    string
	Writes int
	P50    time.Duration
	P90    time.Duration
	// CPU is this process's CPU time (user and system) per probe write,
	// read around the probe before the load, when little else runs in it:
	// what a durable write costs the machine writing it, beside its
	// latency. On the virtual disks measured here it was 50–100 µs, most of
	// it the guest kernel notifying the host (perf: pvm_irq_enable,
	// iowrite16).
	CPU time.Duration
	// Device is the disk under Dir and the cache flushes it completed per
	// probe write (Linux; nil where Dir is on no block device).
	Device *BlockDevice `json:",omitempty"`
}

// BlockDevice is what the kernel says of the disk under the probe, and what
// the probe's writes cost it. A disk with a volatile write cache ("write
// back") that takes no FUA writes makes every durable write two requests:
// the write, then a flush of the whole cache (the kernel's block layer
// issues it once the write completes). Each is a round trip to the device
// and, on a virtual disk, a notification of the host and an interrupt: CPU
// time of the writer's machine as well as latency.
type BlockDevice struct {
	Name       string
	WriteCache string // queue/write_cache: "write back" or "write through"
	FUA        bool   // queue/fua
	// FlushesPer is the disk's completed flush requests during the probe,
	// per probe write (the whole disk's: other writers on an idle machine
	// add little). Its write count is not reported: where the kernel
	// emulates FUA, the stat file counts each such write twice (its data,
	// then the end of its flush sequence; seen with the block tracepoints).
	FlushesPer float64
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
	sys, onDevice := blockDevice(dir)
	f0, counted := deviceFlushes(sys)
	cpu0 := processCPU()
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
	fl := Flush{Dir: filepath.Clean(dir), Writes: n, CPU: (processCPU() - cpu0) / time.Duration(n)}
	if onDevice {
		fl.Device = describeDevice(sys)
		if f1, ok := deviceFlushes(sys); ok && counted {
			fl.Device.FlushesPer = float64(f1-f0) / float64(n)
		}
	}
	slices.Sort(took)
	fl.P50, fl.P90 = took[n/2], took[n*9/10]
	return fl, nil
}

// DurableBound is how far its own audit appends bound a child gateway with
// durable audit at c=1: each call waits for its allow record's append on
// top of what the child proxy's call takes, so the gateway reaches at most
// call ÷ (call + append) of the proxy's throughput, however little else it
// adds. The append is the child's mean over its c=1 phases
// (Row.AuditAppendMean): the disk's write as the gateway meets it, between
// calls, on a machine under load.
type DurableBound struct {
	Gateway    string
	Workload   string
	AppendMean time.Duration
	Bound      float64
}

// DurableBounds lists, for each call workload and each child gateway with
// durable audit measured at c=1 beside the child proxy, its bound.
func (rep *Report) DurableBounds() []DurableBound {
	var out []DurableBound
	for _, w := range []string{WorkloadCallStateful, WorkloadCallStateless} {
		call := rep.proxyCallAtC1(w)
		if call <= 0 {
			continue
		}
		for _, r := range rep.Rows {
			if r.Workload != w || r.Concurrency != 1 || r.AuditAppendMean <= 0 || strings.HasSuffix(r.Target, "+"+auditAsync) {
				continue
			}
			out = append(out, DurableBound{Gateway: r.Target, Workload: w, AppendMean: r.AuditAppendMean,
				Bound: float64(call) / float64(call+r.AuditAppendMean)})
		}
	}
	return out
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

// describe says what the device is and what a durable write cost it.
func (d *BlockDevice) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, write cache %q, ", d.Name, d.WriteCache)
	switch {
	case d.FUA:
		b.WriteString("takes FUA writes (a durable write needs no separate flush)")
	case d.WriteCache == "write back":
		b.WriteString("no FUA: every durable write is the write and then a flush of the device's cache")
	default:
		b.WriteString("no FUA")
	}
	fmt.Fprintf(&b, "; the probe's writes cost it %.2f cache flushes each", d.FlushesPer)
	return b.String()
}
