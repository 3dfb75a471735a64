package bench

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// Machine describes where a run happened, so a reader can compare.
type Machine struct {
	Model      string // "model name" of /proc/cpuinfo
	Cores      int    // processors listed in /proc/cpuinfo
	NumCPU     int    // runtime.NumCPU: the CPUs this process may use
	GOMAXPROCS int
	OS, Arch   string
	Kernel     string // /proc/sys/kernel/osrelease
	GoVersion  string
	LoadAvg    string // /proc/loadavg at the start: how busy the machine already was
}

func describeMachine() Machine {
	m := Machine{NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			name, val, ok := strings.Cut(sc.Text(), ":")
			switch name = strings.TrimSpace(name); {
			case !ok:
			case name == "processor":
				m.Cores++
			case name == "model name" && m.Model == "":
				m.Model = strings.TrimSpace(val)
			}
		}
		f.Close()
	}
	m.Kernel = readTrimmed("/proc/sys/kernel/osrelease")
	if f := strings.Fields(readTrimmed("/proc/loadavg")); len(f) >= 3 {
		m.LoadAvg = strings.Join(f[:3], " ")
	}
	return m
}

func readTrimmed(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}
