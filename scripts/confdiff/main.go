// Command confdiff compares two result directories of the MCP conformance suite
// (`conformance server --output-dir DIR`) check by check. It is a test-only helper
// of scripts/conformance.sh, which runs the suite once against an upstream directly
// and once through `legant gateway`, and wants to know which checks the gateway
// changed.
//
// Usage:
//
//	confdiff -direct DIR -gateway DIR
//
// The suite writes one directory per scenario, server-<scenario>-<timestamp>/,
// holding checks.json: an array of checks, each with an id, a status (SUCCESS,
// FAILURE, WARNING, SKIPPED, INFO) and, when it did not pass, an errorMessage.
// Check ids may repeat within a scenario; the n-th occurrence of an id in one run
// is compared with the n-th in the other.
//
// Output: one line per scenario that differs,
//
//	scenario NAME: direct P passed F failed, gateway P passed F failed
//
// followed by one line per check whose status differs, indented by two spaces,
//
//	CHECK-ID: direct STATUS, gateway STATUS: gateway's errorMessage [description]
//
// (a scenario absent from one side is reported as "not run"). The exit status is
// 0 when nothing differs, 1 when something does, 2 on a usage or read error.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

func main() {
	direct := flag.String("direct", "", "result directory of the direct run")
	gateway := flag.String("gateway", "", "result directory of the run through the gateway")
	flag.Parse()
	log.SetPrefix("confdiff: ")
	log.SetFlags(0)
	if *direct == "" || *gateway == "" {
		log.Print("-direct and -gateway are required")
		os.Exit(2)
	}
	d, err := readRun(*direct)
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	g, err := readRun(*gateway)
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	if n := writeDiff(os.Stdout, d, g); n > 0 {
		os.Exit(1)
	}
}

// Check is one entry of a scenario's checks.json.
type Check struct {
	ID           string `json:"id"`
	Description  string `json:"description"`
	Status       string `json:"status"`
	ErrorMessage string `json:"errorMessage"`
}

// run maps a scenario name to its checks, in the order the suite wrote them.
type run map[string][]Check

// scenarioDir matches a result directory name: server-<scenario>-<ISO timestamp
// with ':' and '.' replaced by '-'>.
var scenarioDir = regexp.MustCompile(`^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$`)

// readRun reads every server-*/checks.json under dir. A scenario run twice has
// its checks concatenated in directory-name (that is, time) order.
func readRun(dir string) (run, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	r := run{}
	for _, e := range entries { // os.ReadDir sorts by name
		m := scenarioDir.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "checks.json"))
		if errors.Is(err, os.ErrNotExist) {
			r[m[1]] = append(r[m[1]], Check{}) // ran, wrote nothing: keep the scenario visible
			continue
		}
		if err != nil {
			return nil, err
		}
		var checks []Check
		if err := json.Unmarshal(b, &checks); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, e.Name(), "checks.json"), err)
		}
		r[m[1]] = append(r[m[1]], checks...)
	}
	if len(r) == 0 {
		return nil, fmt.Errorf("%s: no server-<scenario>-<timestamp> result directories", dir)
	}
	return r, nil
}

// counts returns the checks that passed and failed, as the suite counts them
// (warnings, skips and infos are neither).
func counts(checks []Check) (passed, failed int) {
	for _, c := range checks {
		switch c.Status {
		case "SUCCESS":
			passed++
		case "FAILURE":
			failed++
		}
	}
	return passed, failed
}

// keyed indexes checks by "id" for the first occurrence of an id and "id#n" for
// the n-th (n ≥ 2), and returns the keys in first-seen order.
func keyed(checks []Check) (map[string]Check, []string) {
	seen := map[string]int{}
	m := map[string]Check{}
	var order []string
	for _, c := range checks {
		if c.ID == "" {
			continue
		}
		seen[c.ID]++
		k := c.ID
		if n := seen[c.ID]; n > 1 {
			k = fmt.Sprintf("%s#%d", c.ID, n)
		}
		m[k] = c
		order = append(order, k)
	}
	return m, order
}

// writeDiff writes the differing scenarios and checks of g against d to w and
// returns how many scenarios differ.
func writeDiff(w io.Writer, d, g run) int {
	names := map[string]bool{}
	for s := range d {
		names[s] = true
	}
	for s := range g {
		names[s] = true
	}
	sorted := make([]string, 0, len(names))
	for s := range names {
		sorted = append(sorted, s)
	}
	sort.Strings(sorted)
	differing := 0
	for _, s := range sorted {
		lines := checkDiff(d[s], g[s])
		_, inD := d[s]
		_, inG := g[s]
		if len(lines) == 0 && inD == inG {
			continue
		}
		differing++
		fmt.Fprintf(w, "scenario %s: direct %s, gateway %s\n", s, side(d[s], inD), side(g[s], inG))
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	return differing
}

func side(checks []Check, ran bool) string {
	if !ran {
		return "not run"
	}
	p, f := counts(checks)
	return fmt.Sprintf("%d passed %d failed", p, f)
}

// checkDiff returns one line per check whose status differs between d and g:
// direct's order first, then checks only the gateway side has.
func checkDiff(d, g []Check) []string {
	dm, dorder := keyed(d)
	gm, gorder := keyed(g)
	var lines []string
	for _, k := range dorder {
		dc := dm[k]
		gc, ok := gm[k]
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("%s: direct %s, gateway absent%s", k, dc.Status, about(dc)))
		case gc.Status != dc.Status:
			lines = append(lines, fmt.Sprintf("%s: direct %s, gateway %s%s%s", k, dc.Status, gc.Status, message(gc), about(gc)))
		}
	}
	for _, k := range gorder {
		if _, ok := dm[k]; !ok {
			gc := gm[k]
			lines = append(lines, fmt.Sprintf("%s: direct absent, gateway %s%s%s", k, gc.Status, message(gc), about(gc)))
		}
	}
	return lines
}

func message(c Check) string {
	if c.ErrorMessage == "" {
		return ""
	}
	return ": " + oneLine(c.ErrorMessage)
}

// about names what the check tests: repeated ids (id#2, id#3) differ only there.
func about(c Check) string {
	if c.Description == "" {
		return ""
	}
	return " [" + oneLine(c.Description) + "]"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
