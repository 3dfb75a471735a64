package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openlegant/legant/upstreams"
	"github.com/openlegant/legant/upstreams/grants"
)

// lintFlags are the settings of `legant lint`.
type lintFlags struct {
	file      string // the registry file
	publicURL string // the gateway's public URL, for default inbound audiences
	toolsFile string // a saved tools/list answer to lint the registry against
	upstream  string // which upstream toolsFile belongs to; "" when there is one
	registry  string // for a grants file: the registry to check it against
	// saved prompts/list, resources/list, resources/templates/list answers
	promptsFile, resourcesFile, templatesFile string
}

func newLintCmd() *cobra.Command {
	var f lintFlags
	cmd := &cobra.Command{
		Use:   "lint -f legant.yaml | -f legant.grants.yaml [--upstreams legant.yaml]",
		Short: "Validate an upstream registry or a grants file (and check it against an upstream's tools or the registry)",
		Long: `Validate an upstream registry file and print every problem as
"file:line:col: field: message". With --upstream-tools (a saved tools/list
answer), also check each tool binding against the tools the upstream lists;
with --upstream-prompts, --upstream-resources and --upstream-templates (saved
prompts/list, resources/list, resources/templates/list answers), the prompts,
resource grants and templates likewise; every pin is checked against the
definitions given.
A grants file (a top-level "grants" key) is validated on its own and, with
--upstreams, against the registry (docs/GRANTS.md).
Exits non-zero when there is any error, so CI can gate on it; warnings alone pass.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLint(cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "registry file (required)")
	fl.StringVar(&f.publicURL, "public-url", "", "gateway public URL that default inbound audiences derive from")
	fl.StringVar(&f.toolsFile, "upstream-tools", "", "saved tools/list answer (JSON) to lint the bindings against")
	fl.StringVar(&f.promptsFile, "upstream-prompts", "", "saved prompts/list answer (JSON) to lint the prompts against")
	fl.StringVar(&f.resourcesFile, "upstream-resources", "", "saved resources/list answer (JSON) to lint the resource grants against")
	fl.StringVar(&f.templatesFile, "upstream-templates", "", "saved resources/templates/list answer (JSON) to lint the template grants against")
	fl.StringVar(&f.upstream, "upstream", "", "slug of the upstream --upstream-tools belongs to (needed when the registry has several)")
	fl.StringVar(&f.registry, "upstreams", "", "for a grants file: the upstream registry to check it against")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func runLint(out io.Writer, f lintFlags) error {
	if data, err := os.ReadFile(f.file); err == nil && grants.Sniff(data) {
		return runLintGrants(out, f)
	}
	reg, err := upstreams.Load(f.file, upstreams.Options{PublicURL: f.publicURL})
	var verrs upstreams.ValidationErrors
	if errors.As(err, &verrs) {
		for _, e := range verrs {
			fmt.Fprintln(out, e)
		}
		return fmt.Errorf("%s: %d problem(s)", f.file, len(verrs))
	}
	if err != nil {
		return err
	}
	ntools := 0
	for _, u := range reg.Upstreams() {
		ntools += len(u.Tools)
	}
	summary := fmt.Sprintf("%s: ok: %d upstream(s), %d tool(s)", f.file, len(reg.Upstreams()), ntools)
	against := strings.Join(slices.DeleteFunc([]string{f.toolsFile, f.promptsFile, f.resourcesFile, f.templatesFile},
		func(s string) bool { return s == "" }), ", ")
	if against == "" {
		fmt.Fprintln(out, summary)
		return nil
	}
	errs, warns := 0, 0
	if f.toolsFile != "" {
		if errs, warns, err = lintTools(out, reg, f); err != nil {
			return err
		}
	}
	e, w, err := lintObjects(out, reg, f)
	if err != nil {
		return err
	}
	errs, warns = errs+e, warns+w
	if errs > 0 {
		return fmt.Errorf("%s: %d error(s), %d warning(s) against %s", f.file, errs, warns, against)
	}
	fmt.Fprintf(out, "%s; %d warning(s) against %s\n", summary, warns, against)
	return nil
}

// lintObjects prints the findings of one upstream's prompts, resource
// grants and pins against the saved lists given.
func lintObjects(out io.Writer, reg *upstreams.Registry, f lintFlags) (errs, warns int, err error) {
	up, err := pickUpstream(reg, f.upstream)
	if err != nil {
		return 0, 0, err
	}
	read := func(file, member string) ([]json.RawMessage, error) {
		if file == "" {
			return nil, nil
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		items, err := upstreams.ParseList(data, member)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if items == nil {
			items = []json.RawMessage{}
		}
		return items, nil
	}
	var lists [4][]json.RawMessage
	for i, src := range [][2]string{{f.toolsFile, "tools"}, {f.promptsFile, "prompts"}, {f.resourcesFile, "resources"}, {f.templatesFile, "resourceTemplates"}} {
		if lists[i], err = read(src[0], src[1]); err != nil {
			return 0, 0, err
		}
	}
	for _, finding := range upstreams.LintObjects(up, lists[0], lists[1], lists[2], lists[3]) {
		fmt.Fprintln(out, finding)
		if finding.Severity == upstreams.SeverityError {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns, nil
}

// lintTools prints the findings of one upstream against a saved tools/list.
func lintTools(out io.Writer, reg *upstreams.Registry, f lintFlags) (errs, warns int, err error) {
	up, err := pickUpstream(reg, f.upstream)
	if err != nil {
		return 0, 0, err
	}
	data, err := os.ReadFile(f.toolsFile)
	if err != nil {
		return 0, 0, err
	}
	tools, err := upstreams.ParseToolsList(data)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", f.toolsFile, err)
	}
	for _, finding := range upstreams.Lint(up, tools) {
		fmt.Fprintln(out, finding)
		if finding.Severity == upstreams.SeverityError {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns, nil
}

func pickUpstream(reg *upstreams.Registry, slug string) (*upstreams.Upstream, error) {
	if slug != "" {
		up, ok := reg.Lookup(slug)
		if !ok {
			return nil, fmt.Errorf("--upstream %q: no such upstream in %s", slug, reg.Source())
		}
		return up, nil
	}
	all := reg.Upstreams()
	if len(all) != 1 {
		return nil, fmt.Errorf("%s has %d upstreams: say which one the tools belong to with --upstream", reg.Source(), len(all))
	}
	return all[0], nil
}
