package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestGatewayMemProfileOnSIGUSR1: a gateway started with --memprofile writes
// a heap profile there on SIGUSR1, and again, replacing it, on the next one.
func TestGatewayMemProfileOnSIGUSR1(t *testing.T) {
	bin := buildLegant(t)
	k := newKillRig(t)
	writeRegistry(t, k, "http://127.0.0.1:1/mcp", "{request: 500ms, call: 500ms}")
	heap := filepath.Join(t.TempDir(), "gateway.heap")
	gw := startGatewayProcess(t, bin, append(k.sqliteArgs(t), "--memprofile", heap)...)
	var last os.FileInfo
	for round := range 2 {
		if err := gw.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			fi, err := os.Stat(heap)
			if err == nil && (last == nil || !os.SameFile(fi, last)) {
				last = fi
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no new heap profile at %s after SIGUSR1:\n%s", round, heap, gw.stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		f, err := os.Open(heap)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f) // a pprof profile: gzipped protocol buffers
		if err != nil {
			f.Close()
			t.Fatalf("round %d: %s is not a profile: %v", round, heap, err)
		}
		raw, err := io.ReadAll(zr)
		f.Close()
		if err != nil || !bytes.Contains(raw, []byte("inuse_space")) || !bytes.Contains(raw, []byte("runtime.")) {
			t.Fatalf("round %d: %s holds %d bytes, %v; want a heap profile (inuse_space samples)", round, heap, len(raw), err)
		}
		// Beside it, written first: the runtime's figures of that moment.
		var ms map[string]uint64
		b, err := os.ReadFile(heap + ".json")
		if err == nil {
			err = json.Unmarshal(b, &ms)
		}
		if err != nil || ms["Goroutines"] == 0 || ms["StackInuse"] == 0 || ms["HeapAlloc"] == 0 || ms["HeapInuse"] < ms["HeapAlloc"] || ms["Sys"] < ms["HeapInuse"] {
			t.Fatalf("round %d: %s.json = %s, %v; want the runtime's goroutines, stacks and heap", round, heap, b, err)
		}
	}
}
