package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// blockDevice finds the whole disk under dir in sysfs (a partition's
// queue and flush counts are its disk's): the directory
// /sys/dev/block/MAJ:MIN resolves to, or its parent for a partition. ok is
// false when dir is on no block device (tmpfs, overlay on another device,
// no sysfs).
func blockDevice(dir string) (sys string, ok bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return "", false
	}
	dev := uint64(st.Dev)
	major := (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
	minor := dev&0xff | (dev>>12)&^uint64(0xff)
	sys, err := filepath.EvalSymlinks("/sys/dev/block/" + strconv.FormatUint(major, 10) + ":" + strconv.FormatUint(minor, 10))
	if err != nil {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		sys = filepath.Dir(sys)
	}
	if _, err := os.Stat(filepath.Join(sys, "queue")); err != nil {
		return "", false
	}
	return sys, true
}

// deviceFlushes reads the disk's completed flush requests from its stat
// file (Documentation/block/stat.rst: field 16).
func deviceFlushes(sys string) (flushes uint64, ok bool) {
	b, err := os.ReadFile(filepath.Join(sys, "stat"))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(f[15], 10, 64)
	return n, err == nil
}

// describeDevice returns the disk's name, its write cache mode and whether
// it takes FUA writes, from its queue's sysfs attributes.
func describeDevice(sys string) *BlockDevice {
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(sys, "queue", name))
		return strings.TrimSpace(string(b))
	}
	return &BlockDevice{Name: filepath.Base(sys), WriteCache: read("write_cache"), FUA: read("fua") == "1"}
}
