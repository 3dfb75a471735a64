package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
	"github.com/openlegant/legant/policy"
)

// BenchmarkAuditAppend measures group-committed appends with 1, 8 and 64
// concurrent producers; each Append waits for its batch's commit.
//
//	LEGANT_TEST_DATABASE_URL=… go test ./issuer/store -run '^$' -bench AuditAppend -benchtime 20000x
func BenchmarkAuditAppend(b *testing.B) {
	type variant struct {
		name     string
		be       storetest.Backend
		journal  int64 // Options.AuditJournalSize
		buffered bool  // the journal appends with pwrite + fdatasync, not O_DIRECT
	}
	var variants []variant
	for _, be := range storetest.Backends(b) {
		variants = append(variants, variant{be.Name, be, 0, false})
		if !be.Postgres() { // the journal's write paths and price, beside it
			variants = append(variants, variant{be.Name + "-buffered", be, 0, true}, variant{be.Name + "-nojournal", be, -1, false})
		}
	}
	for _, v := range variants {
		for _, producers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/producers=%d", v.name, producers), func(b *testing.B) {
				opts := v.be.Options(b)
				opts.AuditJournalSize = v.journal
				was := store.SetJournalDirect(!v.buffered)
				st := storetest.Open(b, opts)
				store.SetJournalDirect(was)
				ctx := context.Background()
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start, cpu0 := time.Now(), processCPU()
				for range producers {
					wg.Go(func() {
						for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
							if err := st.Audit().Append(ctx, event(int(i))); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				took := time.Since(start)
				if err := st.SettleAudit(ctx); err != nil { // the applier's CPU is the append's too
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/took.Seconds(), "events/s")
				if st.AuditJournaled() {
					b.ReportMetric(float64(b.N)/float64(max(st.AuditApplies(), 1)), "events/apply")
				}
				b.ReportMetric(float64(b.N)/float64(max(st.AuditBatches(), 1)), "events/commit")
				b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
			})
		}
	}
}

// processCPU is this process's CPU time so far (user + system): the
// benchmark's cost per event, robust to a loaded machine as wall time is not.
// PostgreSQL's own CPU is not in it.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAuditVerify measures Verify over a chain of
// LEGANT_BENCH_VERIFY_EVENTS events (default 1,000,000), loaded with the real
// chain by COPY (PostgreSQL) or one prepared INSERT (SQLite) before timing.
//
//	LEGANT_TEST_DATABASE_URL=… go test ./issuer/store -run '^$' -bench AuditVerify -benchtime 1x -timeout 30m
func BenchmarkAuditVerify(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("LEGANT_BENCH_VERIFY_EVENTS")); err == nil && v > 0 {
		n = v
	}
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, be := range storetest.Backends(b) {
		b.Run(fmt.Sprintf("%s/events=%d", be.Name, n), func(b *testing.B) {
			st := storetest.Open(b, be.Options(b))
			ctx := context.Background()
			load := time.Now()
			err := st.BulkLoadAudit(ctx, n, func(i int) audit.Event {
				e := event(i)
				e.Time = t0.Add(time.Duration(i) * time.Millisecond)
				e.ArgsHash, e.Args = audit.ArgsHash(e.Args), nil
				return e
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("loaded %d events in %v", n, time.Since(load))
			b.ResetTimer()
			for range b.N {
				rep, err := st.Audit().Verify(ctx, nil)
				if err != nil || rep.Events != int64(n) {
					b.Fatalf("Verify = %+v, %v", rep, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkSessionWrites creates, then ends, b.N sessions from 8 workers (a
// gateway ends sessions 8 at a time when it drains or sweeps idle ones):
// ns/op is per session for each half.
func BenchmarkSessionWrites(b *testing.B) {
	for _, be := range storetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			st := storetest.Open(b, be.Options(b))
			ctx := context.Background()
			run := func(f func(id string) error) time.Duration {
				var next atomic.Int64
				var wg sync.WaitGroup
				start := time.Now()
				for range 8 {
					wg.Go(func() {
						for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
							if err := f(fmt.Sprintf("s%d", i)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				return time.Since(start)
			}
			b.ResetTimer()
			created := run(func(id string) error {
				return st.CreateSession(ctx, store.Session{ID: id, User: "alice", Upstream: "crm"})
			})
			ended := run(func(id string) error {
				_, err := st.CloseSession(ctx, id, "drain", time.Time{})
				return err
			})
			b.ReportMetric(float64(created.Microseconds())/float64(b.N), "create-µs/session")
			b.ReportMetric(float64(ended.Microseconds())/float64(b.N), "end-µs/session")
		})
	}
}

// BenchmarkLedgerCall runs what a budgeted call does to the ledger — Reserve,
// then Settle — from 1 and 16 concurrent callers, each on a delegation of
// its own (separate users' agents) or all on one delegation (one agent's
// parallel calls): ns/op is per call, and this process's CPU per call
// (PostgreSQL's own is not in it).
func BenchmarkLedgerCall(b *testing.B) {
	for _, be := range storetest.Backends(b) {
		for _, callers := range []int{1, 16} {
			for _, shared := range []bool{false, true} {
				if callers == 1 && shared {
					continue
				}
				name := fmt.Sprintf("%s/callers=%d", be.Name, callers)
				if shared {
					name += "/shared"
				}
				b.Run(name, func(b *testing.B) {
					st := storetest.Open(b, be.Options(b))
					ctx := context.Background()
					budget := authority.MustDecimal("1000000000")
					var next atomic.Int64
					var wg sync.WaitGroup
					b.ResetTimer()
					cpu0 := processCPU()
					for c := range callers {
						wg.Go(func() {
							d := fmt.Sprintf("d%d", c)
							if shared {
								d = "d"
							}
							for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
								h, err := st.Reserve(ctx, policy.Reservation{DelegationID: d, Amount: authority.MustDecimal("1"), Budget: &budget})
								if err == nil {
									err = h.Settle(ctx)
								}
								if err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
					b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/call")
				})
			}
		}
	}
}
