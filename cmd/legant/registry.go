package main

// legant registry import | diff | approve: a registry from a live upstream,
// and its pinned definitions kept up to date (upstreams/pin.go, catalog.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/openlegant/legant/upstreams"
)

func newRegistryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Write a registry from a live upstream, and review its pinned definitions",
	}
	cmd.AddCommand(newRegistryImportCmd(), newRegistryDiffCmd(), newRegistryApproveCmd())
	return cmd
}

type upstreamConn struct {
	token   string
	timeout time.Duration
}

func (c *upstreamConn) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.token, "token", "", "bearer token for the upstream (default $LEGANT_UPSTREAM_TOKEN)")
	cmd.Flags().DurationVar(&c.timeout, "timeout", 30*time.Second, "how long listing the upstream may take")
}

func (c *upstreamConn) bearer() string {
	if c.token != "" {
		return c.token
	}
	return os.Getenv("LEGANT_UPSTREAM_TOKEN")
}

func newRegistryImportCmd() *cobra.Command {
	var (
		conn     upstreamConn
		url, out string
		slug     string
	)
	cmd := &cobra.Command{
		Use:   "import --url URL [--token T] [--slug S] [-o legant.yaml]",
		Short: "Connect to a live MCP upstream and write a commented starter registry for it",
		Long: `Connect to a streamable-HTTP MCP server, list its tools, resources, resource
templates and prompts, and write a starter registry: every object named, every scope a
placeholder (todo:…), argument bindings guessed from the schemas (amount/price/total →
amount, category/type → category, url/uri → resource kind url, path/file → resource kind
path) marked "# review", and every tool, prompt and template pinned (docs/UPSTREAMS.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), conn.timeout)
			defer cancel()
			cat, err := fetchCatalog(ctx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1,
				HTTPClient: headerClient(nil, conn.bearer())})
			if err != nil {
				return fmt.Errorf("%s: %w", url, err)
			}
			data, err := upstreams.StarterRegistry(slug, url, url, cat)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s exists: not overwritten (write elsewhere, or -o - for stdout)", out)
			}
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: %d tools, %d resources, %d templates, %d prompts; review every placeholder and \"# review\"\n",
				out, len(cat.Tools), len(cat.Resources), len(cat.Templates), len(cat.Prompts))
			return nil
		},
	}
	conn.flags(cmd)
	cmd.Flags().StringVar(&url, "url", "", "the upstream's streamable-HTTP endpoint (required)")
	cmd.Flags().StringVar(&slug, "slug", "upstream", "the upstream's slug in the registry (/mcp/<slug>)")
	cmd.Flags().StringVarP(&out, "output", "o", "-", "file to write (refuses to overwrite); - for stdout")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

type pinFlags struct {
	conn     upstreamConn
	file     string
	upstream string
}

func (f *pinFlags) register(cmd *cobra.Command) {
	f.conn.flags(cmd)
	cmd.Flags().StringVarP(&f.file, "file", "f", "legant.yaml", "registry file")
	cmd.Flags().StringVar(&f.upstream, "upstream", "", "slug of the upstream (needed when the registry has several)")
}

// diffs loads the registry, lists the upstream and returns its pin diffs.
func (f *pinFlags) diffs(ctx context.Context) (*upstreams.Upstream, []upstreams.PinDiff, error) {
	reg, err := upstreams.Load(f.file, upstreams.Options{})
	if err != nil {
		return nil, nil, err
	}
	up, err := pickUpstream(reg, f.upstream)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.conn.timeout)
	defer cancel()
	var tr mcp.Transport
	switch up.Transport {
	case upstreams.TransportStdio:
		c := exec.CommandContext(ctx, up.Command[0], up.Command[1:]...)
		c.Env = os.Environ()
		for k, v := range up.Env {
			c.Env = append(c.Env, k+"="+v)
		}
		tr = &mcp.CommandTransport{Command: c}
	case upstreams.TransportSSE:
		tr = &mcp.SSEClientTransport{Endpoint: up.URL, HTTPClient: headerClient(up.Headers, f.conn.bearer())}
	default:
		tr = &mcp.StreamableClientTransport{Endpoint: up.URL, MaxRetries: -1, HTTPClient: headerClient(up.Headers, f.conn.bearer())}
	}
	cat, err := fetchCatalog(ctx, tr)
	if err != nil {
		return nil, nil, fmt.Errorf("upstream %s: %w", up.Slug, err)
	}
	d, err := upstreams.DiffPins(up, cat)
	return up, d, err
}

func newRegistryDiffCmd() *cobra.Command {
	var f pinFlags
	cmd := &cobra.Command{
		Use:   "diff -f legant.yaml [--upstream slug] [--token T]",
		Short: "Show the pinned definitions the upstream now lists differently",
		Long: `List the upstream and print each pinned tool, prompt or resource template whose
listed definition no longer has its pin's digest (the gateway hides and refuses those).
Exits non-zero when there is any, so CI can gate on it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			up, diffs, err := f.diffs(cmd.Context())
			if err != nil {
				return err
			}
			for _, d := range diffs {
				fmt.Fprintln(cmd.OutOrStdout(), d)
			}
			if len(diffs) > 0 {
				return fmt.Errorf("%s: %d pinned definition(s) differ from upstream %s", f.file, len(diffs), up.Slug)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: every pinned definition of %s matches (%d pins)\n", f.file, up.Slug, len(up.Pins))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newRegistryApproveCmd() *cobra.Command {
	var (
		f     pinFlags
		tools []string
	)
	cmd := &cobra.Command{
		Use:   "approve -f legant.yaml [--upstream slug] [--tool X]… [--token T]",
		Short: "Accept the upstream's current definitions: rewrite their pins in the registry",
		Long: `Rewrite the pin of each pinned object whose listed definition differs (only the
tools named with --tool, when given) to the listed definition's digest, in place, keeping
the file's comments. Review the change with "legant registry diff" first. A running
gateway picks the new pins up on its next reload.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			up, diffs, err := f.diffs(cmd.Context())
			if err != nil {
				return err
			}
			if len(tools) > 0 {
				var keep []upstreams.PinDiff
				for _, d := range diffs {
					for _, t := range tools {
						if d.Kind == upstreams.PinTool && d.Name == t {
							keep = append(keep, d)
						}
					}
				}
				diffs = keep
			}
			if len(diffs) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: nothing to approve\n", f.file)
				return nil
			}
			data, err := os.ReadFile(f.file)
			if err != nil {
				return err
			}
			out, skipped, err := upstreams.ApprovePins(data, up.Slug, diffs)
			if err != nil {
				return err
			}
			if _, err := upstreams.Parse(f.file, out, upstreams.Options{}); err != nil {
				return fmt.Errorf("the rewritten registry does not parse; %s unchanged: %w", f.file, err)
			}
			tmp := f.file + ".tmp"
			if err := os.WriteFile(tmp, out, 0o644); err != nil {
				return err
			}
			if err := os.Rename(tmp, f.file); err != nil {
				return err
			}
			for _, d := range diffs {
				if !containsDiff(skipped, d) {
					fmt.Fprintf(cmd.OutOrStdout(), "approved %s %s: %s → %s\n", d.Kind, d.Name, d.Pin, d.Listed)
				}
			}
			for _, d := range skipped {
				fmt.Fprintf(cmd.OutOrStdout(), "not approved %s\n", d)
			}
			if len(skipped) > 0 {
				return errors.New("some pins could not be approved (objects the upstream no longer lists: remove them from the registry)")
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringSliceVar(&tools, "tool", nil, "approve only this tool (repeatable)")
	return cmd
}

func containsDiff(ds []upstreams.PinDiff, d upstreams.PinDiff) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// fetchCatalog connects over tr and lists everything the server declares,
// every page. Each object is kept as the JSON the SDK reads it into
// (name, description and schemas are kept whole).
func fetchCatalog(ctx context.Context, tr mcp.Transport) (*upstreams.Catalog, error) {
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "legant-registry", Version: "1"}, nil).Connect(ctx, tr, nil)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	caps := cs.InitializeResult().Capabilities
	cat := &upstreams.Catalog{}
	add := func(list *[]json.RawMessage, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		*list = append(*list, b)
		return nil
	}
	if caps == nil || caps.Tools != nil {
		for t, err := range cs.Tools(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("tools/list: %w", err)
			}
			if err := add(&cat.Tools, t); err != nil {
				return nil, err
			}
		}
	}
	if caps != nil && caps.Resources != nil {
		for r, err := range cs.Resources(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("resources/list: %w", err)
			}
			if err := add(&cat.Resources, r); err != nil {
				return nil, err
			}
		}
		for t, err := range cs.ResourceTemplates(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("resources/templates/list: %w", err)
			}
			if err := add(&cat.Templates, t); err != nil {
				return nil, err
			}
		}
	}
	if caps != nil && caps.Prompts != nil {
		for p, err := range cs.Prompts(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("prompts/list: %w", err)
			}
			if err := add(&cat.Prompts, p); err != nil {
				return nil, err
			}
		}
	}
	return cat, nil
}

// headerClient is an HTTP client adding the registry's static headers and
// a bearer token to every request.
func headerClient(headers map[string]string, bearer string) *http.Client {
	return &http.Client{Transport: headerTransport{headers: headers, bearer: bearer}}
}

type headerTransport struct {
	headers map[string]string
	bearer  string
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	if t.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+t.bearer)
	}
	return http.DefaultTransport.RoundTrip(r)
}
