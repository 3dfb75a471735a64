//go:build unix

package gateway_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the test process has used (user + system):
// the gateway, the member servers and the client all run in it.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
