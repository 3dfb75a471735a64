package bench

import (
	"syscall"
	"testing"
)

// TestFlushProbeDevice: on a disk, the probe names the device and counts
// what its writes cost it: on a disk with a volatile cache and no FUA, a
// cache flush each (a 4 KiB write into a preallocated, synced file, then
// fdatasync) — without which the fdatasync would not have made the write
// durable.
func TestFlushProbeDevice(t *testing.T) {
	dir := t.TempDir()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	const tmpfs, overlay = 0x01021994, 0x794c7630
	f, err := measureFlush(dir, 50)
	if err != nil {
		t.Fatal(err)
	}
	d := f.Device
	if fs.Type == tmpfs || fs.Type == overlay {
		if d != nil {
			t.Fatalf("%s is on no block device (statfs type %#x), yet the probe reports %+v", dir, fs.Type, d)
		}
		return
	}
	if d == nil || d.Name == "" || d.WriteCache == "" {
		t.Fatalf("%s is on a disk (statfs type %#x), yet the probe reports device %+v", dir, fs.Type, d)
	}
	if d.WriteCache == "write back" && !d.FUA && d.FlushesPer < 0.9 {
		t.Fatalf("%s: write back cache without FUA, yet %.2f flushes per fdatasync", d.Name, d.FlushesPer)
	}
	t.Logf("%s", d.describe())
}
