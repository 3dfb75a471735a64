package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/pflag"
)

// registerCPUProfile adds the hidden --cpuprofile flag to fs: the command
// writes a CPU profile of its whole run to that file (docs/PERFORMANCE.md
// profiles a child gateway under `legant bench` load with it). It returns
// start, which begins profiling when the flag is set and returns the func
// that stops it and closes the file.
func registerCPUProfile(fs *pflag.FlagSet) (start func() (stop func(), err error)) {
	path := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	_ = fs.MarkHidden("cpuprofile")
	return func() (func(), error) {
		if *path == "" {
			return func() {}, nil
		}
		f, err := os.Create(*path)
		if err != nil {
			return nil, fmt.Errorf("cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("cpuprofile: %w", err)
		}
		return func() { pprof.StopCPUProfile(); f.Close() }, nil
	}
}
