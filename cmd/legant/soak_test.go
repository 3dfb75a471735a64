package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openlegant/legant/issuer/store/storetest"
)

// soakFor is how long TestSoak runs: a short soak in CI, the issue's
// ten-minute soak with `go test -run TestSoak -soak 10m ./cmd/legant`.
var soakFor = flag.Duration("soak", 20*time.Second, "duration of TestSoak")

// TestSoak drives a real `legant gateway` process on a throwaway PostgreSQL
// cluster at 80% of the throughput measured a moment before, and stops and
// restarts the database twice in the middle. Afterwards: no audit event is
// lost (every call the upstream ran has its allow record) or written twice,
// the chain verifies, every answer was a clean JSON-RPC result or error
// (never a transport failure or a hang), and the process's descriptors and
// resident memory are back near where they were.
func TestSoak(t *testing.T) {
	c := storetest.StartCluster(t)
	k := newKillRig(t)
	bin := buildLegant(t)
	gw := startGatewayProcess(t, bin, "--upstreams", k.registry, "--public-url", killPublic, "--keys", k.keysDir,
		"--database-url", c.URL, "--key-secret-file", k.secretFile, "--issuer", killIssuer, "--data-dir", t.TempDir(),
		"--store-timeout", "500ms")
	endpoint := gw.url + "/mcp/" + killSlug
	const workers = 8
	clients := make([]*rawClient, workers)
	for i := range clients {
		clients[i] = &rawClient{endpoint: endpoint, token: k.token(t, fmt.Sprintf("soak-%d", i)), http: soakHTTP()}
		clients[i].initialize(t)
	}
	// The maximum: every worker as fast as it can for two seconds.
	max := soakRun(clients, 2*time.Second, 0, nil)
	rate := 0.8 * float64(max.ok) / 2
	fdsBefore, rssBefore := procFDs(gw.cmd.Process.Pid), procRSS(gw.cmd.Process.Pid)
	t.Logf("maximum %.0f calls/s; soaking %v at %.0f calls/s (%d workers), the store restarted twice", float64(max.ok)/2, *soakFor, rate, workers)

	outage := func(at time.Duration) func() {
		return func() {
			time.Sleep(at)
			c.Stop(t)
			time.Sleep(2 * time.Second)
			c.Start(t)
		}
	}
	res := soakRun(clients, *soakFor, rate, []func(){outage(*soakFor / 3), outage(2 * *soakFor / 3)})
	// Let the gateway see the store again, then settle.
	waitFor(t, "calls allowed again after the outages", func() bool { return clients[0].call(1_000_000) == "ok" })
	time.Sleep(time.Second)
	fdsAfter, rssAfter := procFDs(gw.cmd.Process.Pid), procRSS(gw.cmd.Process.Pid)
	t.Logf("answers: %d ok, %d refused -32034 during the outages, %d other, %d transport failures; fds %d → %d, RSS %d → %d KiB",
		res.ok, res.refused, res.other, res.transport, fdsBefore, fdsAfter, rssBefore/1024, rssAfter/1024)
	if res.transport > 0 || res.other > 0 {
		t.Errorf("%d transport failures and %d unexpected answers (first: %s); every answer must be a clean JSON-RPC result or error",
			res.transport, res.other, res.first)
	}
	if res.refused == 0 {
		t.Error("no call was refused while the store was down: the outage did not happen")
	}
	if fdsAfter > fdsBefore+fdsBefore/10+8 {
		t.Errorf("descriptors grew from %d to %d", fdsBefore, fdsAfter)
	}
	if rssAfter > rssBefore*3/2+16<<20 {
		t.Errorf("resident memory grew from %d to %d KiB", rssBefore/1024, rssAfter/1024)
	}
	gw.stop(t)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var allows, withID, distinct int64
	if err := conn.QueryRow(ctx, `SELECT COUNT(*) FILTER (WHERE kind = 'allow'), COUNT(event_id), COUNT(DISTINCT event_id) FROM audit_events`).
		Scan(&allows, &withID, &distinct); err != nil {
		t.Fatal(err)
	}
	started := k.up.Stats().Started
	t.Logf("audit: %d allow records for %d calls the upstream ran; %d events with ids, %d distinct", allows, started, withID, distinct)
	if allows < started {
		t.Errorf("lost audit events: the upstream ran %d calls, the log holds %d allow records", started, allows)
	}
	if withID != distinct {
		t.Errorf("%d audit events written twice", withID-distinct)
	}
	out, err := exec.Command(bin, "audit", "verify", "--database-url", c.URL, "--key-secret-file", k.secretFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "chain intact") {
		t.Errorf("legant audit verify: %v\n%s", err, out)
	}
}

// soakHTTP is one virtual client's connection: a 20 s bound, so a hang is a
// failure, not a stuck test.
func soakHTTP() *http.Client { return &http.Client{Timeout: 20 * time.Second} }

type soakResult struct {
	ok, refused, other, transport int64
	first                         string
}

// soakRun calls from every client until d has passed, at rate calls/s in
// total (0: as fast as they can), running each of during in the background.
func soakRun(clients []*rawClient, d time.Duration, rate float64, during []func()) soakResult {
	var res soakResult
	var mu sync.Mutex
	var id atomic.Int64
	stop := time.Now().Add(d)
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		tick = t.C
	}
	var bg sync.WaitGroup
	for _, f := range during {
		bg.Go(f)
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if tick != nil {
					<-tick
				}
				switch got := c.call(int(id.Add(1))); {
				case got == "ok":
					atomic.AddInt64(&res.ok, 1)
				case got == "audit_unavailable":
					atomic.AddInt64(&res.refused, 1)
				case strings.HasPrefix(got, "transport"):
					atomic.AddInt64(&res.transport, 1)
					mu.Lock()
					if res.first == "" {
						res.first = got
					}
					mu.Unlock()
				default:
					atomic.AddInt64(&res.other, 1)
					mu.Lock()
					if res.first == "" {
						res.first = got
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	bg.Wait()
	return res
}

// procFDs counts the open descriptors of process pid.
func procFDs(pid int) int {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries)
}

// procRSS reads the resident memory of process pid, in bytes.
func procRSS(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			var kb int64
			fmt.Sscan(f[1], &kb)
			return kb * 1024
		}
	}
	return 0
}
