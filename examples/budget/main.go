// Command budget is a narrated demo of a shared budget under concurrency:
// an orchestrator holding alice's delegation (budget 100 USD) starts five
// sub-agents that all spend from it at once through the gateway. Exactly the
// budget is spent — the ledger reserves each call atomically before it is
// forwarded — every other call is refused with reason "budget", and the
// upstream, the ledger and the audit log agree to the cent.
//
//	go run ./examples/budget
//
// Everything runs in this process on loopback ports (examples/internal/demo).
package main

import (
	"context"

	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/examples/internal/demo"
	"github.com/openlegant/legant/issuer/store"
)

func main() { demo.Main("budget", run) }

const (
	workers    = 5
	callsEach  = 4
	price      = 10  // USD per call
	budget     = 100 // USD
	delegation = "d-sprint-42"
)

var specs = []demo.UpstreamSpec{{Slug: "cloud", Tools: []demo.Tool{
	{Name: "buy_credits", Binding: "scope: cloud:spend\namount: {pointer: /amount, currency: USD}", Args: map[string]string{"amount": "number"}},
}}}

// result is one sub-agent's call.
type result struct {
	worker string
	out    demo.Outcome
}

// run plays the demo, writing the transcript to w. It returns the decisions
// in order; an error when one is not what the demo promises.
func run(ctx context.Context, w io.Writer) ([]string, error) {
	env, err := demo.Start(ctx, demo.Options{Upstreams: specs})
	if err != nil {
		return nil, err
	}
	defer env.Close()
	n := demo.NewNarrator(w)
	n.Say("setup", "gateway %s/mcp/cloud: buy_credits(amount USD); ledger and audit: SQLite store", env.GatewayURL)
	n.Say("issuer", "alice delegates to agent:orchestrator: buy_credits, budget %d USD (delegation %s)", budget, delegation)
	agents, err := connectWorkers(ctx, env, n)
	if err != nil {
		return n.Decisions(), err
	}
	defer func() {
		for _, a := range agents {
			a.Close()
		}
	}()
	n.Scene("All five spend at once: %d calls of %d USD = %d USD asked, %d USD granted", workers*callsEach, price, workers*callsEach*price, budget)
	results, err := spend(ctx, agents)
	if err != nil {
		return n.Decisions(), err
	}
	narrateResults(n, results)
	if err := reconcile(ctx, env, n); err != nil {
		return n.Decisions(), err
	}
	return n.Decisions(), n.Err()
}

// connectWorkers gives each sub-agent a token of the one delegation (its own
// hop on the act chain, the delegation id shared) and opens its session.
func connectWorkers(ctx context.Context, env *demo.Env, n *demo.Narrator) ([]*demo.Agent, error) {
	var agents []*demo.Agent
	for i := 1; i <= workers; i++ {
		name := fmt.Sprintf("worker-%d", i)
		c := &authority.Claims{Subject: "alice", Audience: []string{env.Audience("cloud")}, Scopes: []string{"cloud:spend"},
			Actor: authority.NewActor("orchestrator", name), DelegationID: delegation,
			Constraints: authority.Constraints{Tools: authority.Only("buy_credits"), Resources: authority.AnyOf(), Categories: authority.AnyOf(),
				Budget: &authority.Money{Value: authority.MustDecimal(fmt.Sprint(budget)), Currency: "USD"}}}
		token, err := env.Mint(c)
		if err != nil {
			return agents, err
		}
		a, refused, err := env.Connect(ctx, "cloud", token, name)
		if err != nil {
			return agents, err
		}
		if refused != nil {
			return agents, fmt.Errorf("%s: connect refused: %s", name, refused)
		}
		agents = append(agents, a)
	}
	n.Say("orchestrator", "started %d sub-agents, each with a token of delegation %s (act: orchestrator → worker-N)", workers, delegation)
	return agents, nil
}

// spend runs every sub-agent's calls concurrently.
func spend(ctx context.Context, agents []*demo.Agent) ([]result, error) {
	var (
		mu       sync.Mutex
		results  []result
		firstErr error
		wg       sync.WaitGroup
	)
	startGun := make(chan struct{})
	for _, a := range agents {
		wg.Go(func() {
			<-startGun
			for range callsEach {
				out, err := a.Call(ctx, "buy_credits", map[string]any{"amount": price})
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				results = append(results, result{worker: a.Name, out: out})
				mu.Unlock()
			}
		})
	}
	close(startGun)
	wg.Wait()
	return results, firstErr
}

func narrateResults(n *demo.Narrator, results []result) {
	byWorker := map[string][2]int{}
	allowed, reasons := 0, map[string]int{}
	var sample string
	for _, r := range results {
		k := byWorker[r.worker]
		if r.out.Allowed {
			k[0]++
			allowed++
		} else {
			k[1]++
			reasons[r.out.Decision()]++
			sample = r.out.Message
		}
		byWorker[r.worker] = k
	}
	names := make([]string, 0, len(byWorker))
	for name := range byWorker {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n.Say(name, "%d allowed, %d refused", byWorker[name][0], byWorker[name][1])
	}
	n.Say("legant", "a refusal reads: %s", sample)
	n.Check("a refusal", sample, "denied: spending would reach 110, over budget 100")
	n.Check("calls allowed", fmt.Sprint(allowed), fmt.Sprint(budget/price))
	n.Check("calls refused", fmt.Sprint(reasons), fmt.Sprintf("map[deny budget:%d]", workers*callsEach-budget/price))
	n.Say("", "why: each call reserves its amount in the ledger, atomically, before it is forwarded; a reservation that")
	n.Say("", "     would take spent + held past the budget is refused, so concurrent calls cannot both spend the last 10 USD")
}

// reconcile holds the upstream, the ledger and the audit log to the budget.
func reconcile(ctx context.Context, env *demo.Env, n *demo.Narrator) error {
	n.Scene("Reconciliation")
	var upstreamTotal float64
	calls := env.Upstreams["cloud"].Calls()
	for _, c := range calls {
		v, _ := c.Args["amount"].(float64)
		upstreamTotal += v
	}
	n.Say("upstream", "ran %d buy_credits calls, %v USD in all", len(calls), upstreamTotal)
	n.Check("upstream total", fmt.Sprintf("%d calls, %v USD", len(calls), upstreamTotal), fmt.Sprintf("%d calls, %d USD", budget/price, budget))
	spent, count, err := env.Store.Spent(ctx, delegation)
	if err != nil {
		return err
	}
	n.Say("ledger", "delegation %s: spent %s USD in %d calls", delegation, spent, count)
	n.Check("ledger", fmt.Sprintf("%s USD, %d calls", spent, count), fmt.Sprintf("%d USD, %d calls", budget, budget/price))
	env.CloseGateway() // flush the gateway's audit queue
	evs, err := env.Store.Audit().Query(ctx, store.AuditFilter{Tool: "buy_credits"})
	if err != nil {
		return err
	}
	// The gateway records a hash of each call's raw arguments, not the
	// arguments: every allow must hash exactly {"amount":10}.
	paid := audit.ArgsHash([]byte(fmt.Sprintf(`{"amount":%d}`, price)))
	var allows, denies int
	var total authority.Decimal
	reasons := map[string]int{}
	for _, ev := range evs {
		switch ev.Kind {
		case audit.KindAllow:
			allows++
			if ev.ArgsHash != paid {
				return fmt.Errorf("audit #%d: arguments hash %s, not that of {\"amount\":%d}", ev.Seq, ev.ArgsHash, price)
			}
			total = total.Add(authority.MustDecimal(fmt.Sprint(price)))
		case audit.KindDeny:
			denies++
			reasons[ev.Reason]++
		}
	}
	n.Say("audit", "%d allow events, each with the hash of {\"amount\":%d}: %s USD; %d deny events, reasons %v", allows, price, total, denies, reasons)
	n.Check("audit", fmt.Sprintf("%d allows, %s USD; %d denies %v", allows, total, denies, reasons),
		fmt.Sprintf("%d allows, %d USD; %d denies map[budget:%d]", budget/price, budget, workers*callsEach-budget/price, workers*callsEach-budget/price))
	rep, err := env.Store.Audit().Verify(ctx, nil)
	if err != nil {
		return err
	}
	n.Say("audit", "hash chain of %d events verified, head %.16s…", rep.Events, rep.Head.Hash)
	sample := evs[len(evs)-1]
	for _, ev := range evs {
		if ev.Kind == audit.KindDeny {
			sample = ev
			break
		}
	}
	n.Say("audit", "e.g. %s", strings.TrimSpace(demo.AuditLine(sample)))
	return nil
}
