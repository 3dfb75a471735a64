package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/openlegant/legant/authority"
)

// Defaults for Options fields left zero.
const (
	DefaultRounds   = 7
	DefaultPhase    = time.Second
	DefaultSessions = GoalSessions
	DefaultSettle   = time.Second
	QuickRounds     = 3
	QuickPhase      = 200 * time.Millisecond
	QuickSessions   = 1000
)

// DefaultConcurrency and QuickConcurrency are the concurrencies measured
// when Options.Concurrency is nil.
var (
	DefaultConcurrency = []int{1, 16, 64}
	QuickConcurrency   = []int{1, 16}
)

// Options configures a run. Zero fields mean the defaults named on them;
// Quick changes the defaults to a run of well under a minute.
type Options struct {
	// LegantBinary is the legant executable run as `legant gateway` child
	// processes (the gateway with its real store, and the idle-session
	// measurement). "" measures only the in-process targets.
	LegantBinary string
	// DatabaseURL, when set, adds a child gateway on this PostgreSQL
	// database, in a schema of its own that the run creates and drops.
	DatabaseURL string
	Quick       bool
	Rounds      int           // DefaultRounds (QuickRounds)
	Phase       time.Duration // one target's share of a round: DefaultPhase (QuickPhase)
	Warmup      time.Duration // per target before the rounds; zero means Phase/5
	Concurrency []int         // DefaultConcurrency (QuickConcurrency)
	// ListConcurrency is the concurrency of the tools/list workload; zero means 1.
	ListConcurrency int
	// Sessions is the number of idle sessions opened against a fresh child
	// gateway: zero means DefaultSessions (QuickSessions), negative skips it.
	Sessions int
	// SessionsHTTP1 makes the idle-session child reach its upstream over
	// HTTP/1.1 (a connection per GET stream) instead of h2c, the default.
	SessionsHTTP1 bool
	// SessionsClients are the protocols the idle sessions' clients speak to
	// the child, one measurement each: ProtoHTTP1 (a connection per GET
	// stream) and ProtoH2C (streams share connections); nil means both.
	SessionsClients []string
	// Settle is how long the child gateway rests before its RSS is read;
	// zero means DefaultSettle.
	Settle time.Duration
	// ProfileDir, when set, makes every child gateway and child proxy of the
	// load targets write a CPU profile of its run to ProfileDir/<target>.pprof
	// (`legant gateway --cpuprofile`), for go tool pprof; the idle-session
	// children write sessions-http1.pprof and sessions-h2c.pprof, and with
	// their sessions open the heap profiles sessions-http1.heap and
	// sessions-h2c.heap (`--memprofile`).
	ProfileDir string
	// AsyncAudit also measures each child gateway with --audit-mode async
	// (the allow record queued, not awaited before forwarding): targets
	// "gateway+sqlite+async" and "gateway+postgres+async", beside the
	// durable ones. The goals and CheckRatio judge the durable ones only.
	AsyncAudit bool
	// NoJournal also measures the SQLite child gateway with
	// --audit-journal=false ("gateway+sqlite+nojournal"), beside the default.
	NoJournal bool
	// Workloads selects the workloads to run by short name (WorkloadNames:
	// "call/stateful", "call/stateless", "call/budget", "list"); nil runs
	// them all. A profile of one workload (ProfileDir) needs it.
	Workloads []string
	// Command is how the run was started, printed in the report.
	Command string
	// Progress receives one line per step; nil discards.
	Progress io.Writer
	// Logger receives the in-process gateway's warnings; nil discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	pick := func(v, def, quick time.Duration) time.Duration {
		switch {
		case v > 0:
			return v
		case o.Quick:
			return quick
		}
		return def
	}
	o.Phase = pick(o.Phase, DefaultPhase, QuickPhase)
	o.Warmup = pick(o.Warmup, o.Phase/5, o.Phase/5)
	o.Settle = pick(o.Settle, DefaultSettle, DefaultSettle)
	if o.Rounds <= 0 {
		o.Rounds = map[bool]int{false: DefaultRounds, true: QuickRounds}[o.Quick]
	}
	if len(o.Concurrency) == 0 {
		o.Concurrency = map[bool][]int{false: DefaultConcurrency, true: QuickConcurrency}[o.Quick]
	}
	if o.ListConcurrency <= 0 {
		o.ListConcurrency = 1
	}
	if o.Sessions == 0 {
		o.Sessions = map[bool]int{false: DefaultSessions, true: QuickSessions}[o.Quick]
	}
	if len(o.SessionsClients) == 0 {
		o.SessionsClients = []string{ProtoHTTP1, ProtoH2C}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = discardLogger()
	}
	return o
}

func (o Options) logf(format string, args ...any) {
	fmt.Fprintf(o.Progress, "bench: "+format+"\n", args...)
}

// Run runs the harness and returns its report. It fails only when the
// harness itself cannot run (a target does not start, clients cannot
// initialize); failed calls are counted in the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	if _, err := selectWorkloads(o.Workloads); err != nil {
		return nil, err
	}
	rep := &Report{Date: time.Now(), Machine: describeMachine(), Command: o.Command, Rounds: o.Rounds, Phase: o.Phase}
	tmp, err := os.MkdirTemp("", "legant-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	noFile, err := raiseNoFile(uint64(max(o.Sessions, 0)*fdsPerSession + fdsReserve))
	if err != nil {
		return nil, fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	if o.LegantBinary != "" { // child gateways keep their stores in tmp
		fl, err := measureFlush(tmp, flushWrites)
		if err != nil {
			return nil, fmt.Errorf("flush probe: %w", err)
		}
		rep.Flush = &fl
		o.logf("disk: 4 KiB write + fdatasync p50 %s, p90 %s, CPU %s each", fmtDur(fl.P50), fmtDur(fl.P90), fmtDur(fl.CPU))
	}
	keys, key, err := issuerKeys(keysDir(tmp))
	if err != nil {
		return nil, err
	}
	if err := runLoad(ctx, o, rep, tmp, keys, key); err != nil {
		return nil, err
	}
	if o.Sessions > 0 && o.LegantBinary != "" {
		for _, client := range o.SessionsClients {
			o.logf("idle sessions: opening %d (clients %s)", o.Sessions, client)
			s, cmds, err := measureSessions(ctx, sessionsConfig{binary: o.LegantBinary, dir: tmp, keysDir: keysDir(tmp),
				key: key, n: o.Sessions, settle: o.Settle, noFile: noFile, log: o.logf, h2c: !o.SessionsHTTP1,
				clientH2C: client == ProtoH2C, profileDir: o.ProfileDir})
			if err != nil {
				return nil, err
			}
			rep.Sessions = append(rep.Sessions, s)
			rep.ChildCommands = append(rep.ChildCommands, cmds...)
		}
	}
	rep.Ratios = ratios(rep.Rows)
	rep.Goals = goals(rep, o.Concurrency)
	rep.Took = time.Since(rep.Date)
	return rep, nil
}

// runLoad starts the upstreams and targets and runs every workload.
func runLoad(ctx context.Context, o Options, rep *Report, tmp string, keys *authority.KeySet, key *authority.Key) error {
	up, err := listen(UpstreamHandler())
	if err != nil {
		return err
	}
	defer up.close()
	targets, err := startTargets(ctx, o, tmp, up.url, keys, key)
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	if err != nil {
		return err
	}
	for _, t := range targets {
		rep.Targets = append(rep.Targets, TargetInfo{Name: t.name, About: t.about})
		if t.child != nil {
			rep.ChildCommands = append(rep.ChildCommands, t.child.command())
		}
	}
	wls, err := selectWorkloads(o.Workloads)
	if err != nil {
		return err
	}
	for _, wl := range wls {
		conc := o.Concurrency
		if wl.name == WorkloadList {
			conc = []int{o.ListConcurrency}
		}
		for _, c := range conc {
			rows, err := runCell(ctx, o, targets, wl, c)
			if err != nil {
				return err
			}
			rep.Rows = append(rep.Rows, rows...)
		}
	}
	for _, t := range targets {
		if t.child != nil {
			if m, err := t.child.memory(); err == nil {
				rep.ChildMemory = append(rep.ChildMemory, ChildMemory{Target: t.name, Memory: m})
			}
		}
	}
	return nil
}

// startTargets starts direct, proxy, the in-process gateway and the child
// gateways, and mints their tokens. The targets started are returned even
// on error, for closing.
func startTargets(ctx context.Context, o Options, tmp, upstreamURL string, keys *authority.KeySet, key *authority.Key) ([]*target, error) {
	conns := max(slicesMax(o.Concurrency), o.ListConcurrency)
	targets := []*target{newDirect(upstreamURL, conns)}
	p, err := newProxy(upstreamURL, conns)
	if err != nil {
		return targets, err
	}
	targets = append(targets, p)
	gw, err := newInProcessGateway(upstreamURL, keys, conns, o.Logger)
	if err != nil {
		return targets, err
	}
	targets = append(targets, gw)
	var children []childConfig
	if o.LegantBinary != "" {
		children = append(children, childConfig{binary: o.LegantBinary, dir: filepath.Join(tmp, "child-proxy"),
			upstreamURL: upstreamURL, proxy: true, profile: profilePath(o.ProfileDir, "proxy")})
		modes := []string{""}
		if o.AsyncAudit {
			modes = append(modes, auditAsync)
		}
		if o.NoJournal {
			modes = append(modes, auditNoJournal)
		}
		for _, mode := range modes {
			suffix := ""
			if mode != "" {
				suffix = "+" + mode
			}
			children = append(children, childConfig{binary: o.LegantBinary, dir: filepath.Join(tmp, "child-sqlite"+suffix),
				keysDir: keysDir(tmp), upstreamURL: upstreamURL, auditMode: mode, profile: profilePath(o.ProfileDir, "sqlite"+suffix)})
			if o.DatabaseURL != "" && mode != auditNoJournal { // PostgreSQL keeps no journal
				dbURL, drop, err := pgSchema(ctx, o.DatabaseURL)
				if err != nil {
					for _, c := range children {
						c.cleanup()
					}
					return targets, err
				}
				children = append(children, childConfig{binary: o.LegantBinary, dir: filepath.Join(tmp, "child-postgres"+suffix),
					keysDir: keysDir(tmp), upstreamURL: upstreamURL, databaseURL: dbURL, afterStop: drop, auditMode: mode,
					profile: profilePath(o.ProfileDir, "postgres"+suffix)})
			}
		}
	}
	for i, cfg := range children {
		o.logf("starting %s gateway", cfg.binary)
		t, err := newChildTarget(ctx, cfg, conns)
		if err != nil {
			for _, c := range children[i+1:] {
				c.cleanup()
			}
			return targets, err
		}
		targets = append(targets, t)
	}
	now := time.Now()
	for _, t := range targets {
		if err := t.mintTokens(key, gw.base, now); err != nil {
			return targets, err
		}
	}
	return targets, nil
}

func slicesMax(s []int) int {
	m := 0
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// profilePath is the CPU profile file of a child in dir ("" when dir is "").
func profilePath(dir, name string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, name+".pprof")
}
