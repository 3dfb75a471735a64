package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/keydir"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
	"github.com/openlegant/legant/upstreams/grants"
)

// Files `legant apply` keeps in --out beside the tokens. Hidden, so that
// `legant who-can --dir` reads only the tokens.
const (
	grantsStateFile = ".legant-grants-state.json"
	grantsFeedFile  = ".revoked.jws" // the signed revocation feed (authority/revfeed)
)

// grantsFeedTTL is the least lifetime of the offline revocation feed.
const grantsFeedTTL = 30 * 24 * time.Hour

func newInitCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "init", Short: "Write a commented starter file"}
	var out string
	var force bool
	g := &cobra.Command{
		Use:   "grants",
		Short: "Write a commented legant.grants.yaml",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			fh, err := os.OpenFile(out, flag, 0o644)
			if err != nil {
				return err
			}
			if _, err := io.WriteString(fh, grants.Starter); err != nil {
				fh.Close()
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %s\n", out)
			return fh.Close()
		},
	}
	g.Flags().StringVarP(&out, "file", "f", "legant.grants.yaml", "file to write")
	g.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	cmd.AddCommand(g)
	return cmd
}

// loadGrants parses a grants file and, with a registry, checks it against
// it; every problem is printed to out as file:line:col and the error counts them.
func loadGrants(out io.Writer, file string, reg *upstreams.Registry) (*grants.File, error) {
	f, err := grants.Load(file)
	var verrs upstreams.ValidationErrors
	if errors.As(err, &verrs) {
		for _, e := range verrs {
			fmt.Fprintln(out, e)
		}
		return nil, fmt.Errorf("%s: %d problem(s)", file, len(verrs))
	}
	if err != nil {
		return nil, err
	}
	if reg != nil {
		if errs := f.Check(reg); len(errs) > 0 {
			for _, e := range errs {
				fmt.Fprintln(out, e)
			}
			return nil, fmt.Errorf("%s: %d problem(s) against %s", file, len(errs), reg.Source())
		}
	}
	return f, nil
}

// runLintGrants is `legant lint -f legant.grants.yaml [--upstreams legant.yaml]`.
func runLintGrants(out io.Writer, f lintFlags) error {
	var reg *upstreams.Registry
	if f.registry != "" {
		var err error
		if reg, err = upstreams.Load(f.registry, upstreams.Options{PublicURL: f.publicURL}); err != nil {
			return err
		}
	}
	g, err := loadGrants(out, f.file, reg)
	if err != nil {
		return err
	}
	against := " (structure only: pass --upstreams to check tools, scopes and bindings)"
	if reg != nil {
		against = " against " + reg.Source()
	}
	fmt.Fprintf(out, "%s: ok: %d grant(s)%s\n", f.file, len(g.Grants), against)
	return nil
}

type applyFlags struct {
	file, registry, publicURL, keys, out string
	yes                                  bool
	store                                storeFlags
}

func newApplyCmd() *cobra.Command {
	var f applyFlags
	cmd := &cobra.Command{
		Use:   "apply -f legant.grants.yaml --upstreams legant.yaml --keys DIR --out DIR [--yes]",
		Short: "Reconcile a grants file: mint what is new or changed, revoke what was removed",
		Long: `Compare the grants file with what was minted before (a state file in --out,
keyed by the content digest of each grant) and print the diff: grants to mint,
to replace (changed: old token revoked, new one minted), to renew (expired),
and to revoke (removed from the file). Nothing changes without --yes;
applying an unchanged file is a no-op.

Tokens are written to --out as NAME.jwt (mode 0600). Revocations are kept
offline as a signed revocation feed (--out/.revoked.jws, the format of the
issuer's /.well-known/revoked) and, when a store is named (--database-url or
--data-dir, or LEGANT_DATABASE_URL), recorded through the store as
` + "`legant revoke`" + ` does, with each minted chain recorded as delegations, so every
gateway sharing the store refuses a revoked token at once.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runApply(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), c.Flags(), f, time.Now())
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&f.file, "file", "f", "legant.grants.yaml", "grants file")
	fs.StringVar(&f.registry, "upstreams", "legant.yaml", "upstream registry file")
	fs.StringVar(&f.publicURL, "public-url", "", "gateway public URL, for upstreams without inbound_audience")
	fs.StringVar(&f.keys, "keys", keydir.DefaultDir, "key directory to sign with")
	fs.StringVar(&f.out, "out", "", "directory of the tokens and the state file (required)")
	fs.BoolVar(&f.yes, "yes", false, "apply the diff (without it, only print it)")
	f.store.register(fs)
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runApply(ctx context.Context, out, errOut io.Writer, fs *pflag.FlagSet, f applyFlags, now time.Time) error {
	reg, err := upstreams.Load(f.registry, upstreams.Options{PublicURL: f.publicURL})
	if err != nil {
		return err
	}
	gf, err := loadGrants(out, f.file, reg)
	if err != nil {
		return err
	}
	st, err := readGrantsState(f.out)
	if err != nil {
		return err
	}
	plan, err := grants.PlanApply(gf, reg, st, now)
	if err != nil {
		return err
	}
	fmt.Fprint(out, plan)
	if plan.Empty() {
		fmt.Fprintln(out, "no changes")
		return nil
	}
	if !f.yes {
		fmt.Fprintln(out, "not applied: run again with --yes")
		return nil
	}
	a := &applier{out: out, dir: f.out, state: &st, issuer: gf.Issuer, now: now}
	if a.key, err = signerOf(f.keys); err != nil {
		return err
	}
	if usesStore(fs) {
		if a.store, err = f.store.open(ctx, errOut); err != nil {
			return err
		}
		defer a.store.Close()
	}
	if err := os.MkdirAll(f.out, 0o700); err != nil {
		return err
	}
	for _, c := range plan.Changes {
		if err := a.apply(ctx, c, f.file); err != nil {
			return fmt.Errorf("grant %s: %w", c.Name, err)
		}
	}
	return nil
}

// usesStore reports whether apply records through the store: a store was
// named on the command line or in the environment.
func usesStore(fs *pflag.FlagSet) bool {
	return fs.Changed("database-url") || fs.Changed("data-dir") || os.Getenv(envDatabaseURL) != ""
}

func signerOf(dir string) (*authority.Key, error) {
	ks, err := keydir.Load(dir)
	if err != nil {
		return nil, err
	}
	return ks.Signer()
}

// applier carries out a plan's changes one by one, saving the state after
// each so that an interrupted apply resumes where it stopped.
type applier struct {
	out    io.Writer
	dir    string
	state  *grants.State
	issuer string
	key    *authority.Key
	store  *store.Store // nil: offline
	now    time.Time
}

func (a *applier) apply(ctx context.Context, c grants.Change, file string) error {
	switch c.Action {
	case grants.ActionKeep:
		return nil
	case grants.ActionReplace, grants.ActionRevoke:
		if err := a.revoke(ctx, c.Name, *c.Old, fmt.Sprintf("grant %s %s in %s", c.Name, map[grants.Action]string{grants.ActionReplace: "changed", grants.ActionRevoke: "removed"}[c.Action], file)); err != nil {
			return err
		}
	}
	if c.Action == grants.ActionRevoke {
		return nil
	}
	return a.mint(ctx, c)
}

func (a *applier) mint(ctx context.Context, c grants.Change) error {
	claims, links, err := c.Spec.Claims(a.now)
	if err != nil {
		return err
	}
	if a.store != nil {
		for _, l := range links {
			if err := a.store.CreateDelegation(ctx, store.Delegation{ID: l.ID, ParentID: l.ParentID, User: claims.Subject,
				Agents: l.Agents, ClientID: claims.ClientID, ExpiresAt: claims.ExpiresAt}); err != nil {
				return err
			}
		}
	}
	tok, err := authority.Sign(a.key, claims)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(a.dir, c.Name+".jwt"), []byte(tok+"\n"), 0o600); err != nil {
		return err
	}
	a.state.Grants[c.Name] = grants.Minted{Digest: c.Spec.Digest(), JTI: claims.ID, DelegationID: claims.DelegationID,
		RootID: links[0].ID, User: claims.Subject, Agents: c.Spec.Agents, Upstream: c.Grant.Upstream, ExpiresAt: claims.ExpiresAt}
	fmt.Fprintf(a.out, "%s %s: jti %s, delegation %s, expires %s\n", c.Action, c.Name, claims.ID, claims.DelegationID, claims.ExpiresAt.UTC().Format(time.RFC3339))
	return writeGrantsState(a.dir, *a.state)
}

// revoke revokes a minted token: through the store when there is one, and
// always in the offline signed feed; its token file is removed.
func (a *applier) revoke(ctx context.Context, name string, m grants.Minted, reason string) error {
	if a.store != nil {
		// The root revokes the recorded sub-tree; the token's own delegation
		// is named too, for a chain minted before the store was used.
		for _, id := range []string{m.RootID, m.DelegationID} {
			if _, err := a.store.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindDelegation, Value: id, Reason: reason, ExpiresAt: m.ExpiresAt}); err != nil {
				return err
			}
		}
	}
	delete(a.state.Grants, name)
	var keep []grants.Minted
	for _, r := range a.state.Revoked {
		if a.now.Before(r.ExpiresAt) {
			keep = append(keep, r)
		}
	}
	a.state.Revoked = append(keep, m)
	if err := a.signFeed(); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(a.dir, name+".jwt")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(a.out, "revoked %s: jti %s, delegation %s (%s)\n", name, m.JTI, m.DelegationID, reason)
	return writeGrantsState(a.dir, *a.state)
}

// signFeed writes the offline revocation feed: every revoked, unexpired
// token by jti and by its delegations, signed with the issuer's key.
func (a *applier) signFeed() error {
	exp := a.now.Add(grantsFeedTTL)
	var entries []revfeed.Entry
	for _, r := range a.state.Revoked {
		entries = append(entries, revfeed.Entry{Kind: revfeed.KindToken, Value: r.JTI},
			revfeed.Entry{Kind: revfeed.KindDelegation, Value: r.DelegationID})
		if r.RootID != "" && r.RootID != r.DelegationID {
			entries = append(entries, revfeed.Entry{Kind: revfeed.KindDelegation, Value: r.RootID})
		}
		if r.ExpiresAt.After(exp) {
			exp = r.ExpiresAt
		}
	}
	a.state.FeedVersion++
	jws, err := revfeed.Sign(a.key, revfeed.NewFeed(a.issuer, a.state.FeedVersion, a.now, exp, entries))
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(a.dir, grantsFeedFile), []byte(jws+"\n"), 0o644)
}

func readGrantsState(dir string) (grants.State, error) {
	st := grants.State{Version: grants.StateVersion, Grants: map[string]grants.Minted{}}
	b, err := os.ReadFile(filepath.Join(dir, grantsStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", grantsStateFile, err)
	}
	if st.Version != grants.StateVersion {
		return st, fmt.Errorf("%s: version %d, want %d", grantsStateFile, st.Version, grants.StateVersion)
	}
	if st.Grants == nil {
		st.Grants = map[string]grants.Minted{}
	}
	return st, nil
}

func writeGrantsState(dir string, st grants.State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, grantsStateFile), append(b, '\n'), 0o600)
}

// writeFileAtomic replaces path with data through a temporary file and a rename.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// grantClaims resolves a grant against its upstream into the claims apply
// would mint at instant at (ids are fresh; nothing is signed).
func grantClaims(gf *grants.File, g *grants.Grant, up *upstreams.Upstream, at time.Time) (*authority.Claims, error) {
	spec, err := gf.SpecFor(g, up)
	if err != nil {
		return nil, err
	}
	c, _, err := spec.Claims(at)
	return c, err
}

// runWhoCanGrants is `legant who-can --grants FILE`: the grants of the file
// on --upstream decide the call as the tokens apply mints from them would.
func runWhoCanGrants(out io.Writer, f whoCanFlags) error {
	if f.registry == "" || f.upstream == "" {
		return errors.New("--grants needs --registry and --upstream")
	}
	at, err := parseAt(f.at)
	if err != nil {
		return err
	}
	reg, err := upstreams.Load(f.registry, upstreams.Options{PublicURL: f.publicURL})
	if err != nil {
		return err
	}
	gf, err := loadGrants(out, f.grants, reg)
	if err != nil {
		return err
	}
	binding, _, err := whoCanBinding(f)
	if err != nil {
		return err
	}
	call, err := policy.SampleCall(binding, f.tool, f.sample, at)
	if err != nil {
		return err
	}
	up, _ := reg.Lookup(f.upstream)
	var results []tokenResult
	for _, g := range gf.Grants {
		if g.Upstream != f.upstream {
			continue
		}
		claims, err := grantClaims(gf, g, up, at)
		if err != nil {
			return err
		}
		results = append(results, tokenResult{file: g.Name, claims: claims, decision: policy.Decide(claims, binding, call)})
	}
	printWhoCan(out, results, f.all)
	return nil
}

// runExplainGrant is `legant explain --grants FILE --grant NAME`: one call
// decided with the token the grant stands for.
func runExplainGrant(out io.Writer, f explainFlags) error {
	at, err := parseAt(f.at)
	if err != nil {
		return err
	}
	reg, err := upstreams.Load(f.registry, upstreams.Options{PublicURL: f.publicURL})
	if err != nil {
		return err
	}
	gf, err := loadGrants(out, f.grants, reg)
	if err != nil {
		return err
	}
	var g *grants.Grant
	for _, x := range gf.Grants {
		if x.Name == f.grant {
			g = x
		}
	}
	if g == nil {
		return fmt.Errorf("%s has no grant %q", f.grants, f.grant)
	}
	if f.upstream != "" && f.upstream != g.Upstream {
		return fmt.Errorf("grant %s is for upstream %q, not %q", g.Name, g.Upstream, f.upstream)
	}
	up, _ := reg.Lookup(g.Upstream)
	claims, err := grantClaims(gf, g, up, at)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "upstream:\t%s (audience %s)\n", up.Slug, up.InboundAudience)
	fmt.Fprintf(w, "grant:\t%s (%s, %s:%d)\n", g.Name, claims.Provenance(), gf.Source, g.Pos.Line)
	binding, _ := up.Tool(f.tool)
	if binding != nil {
		fmt.Fprintf(w, "tool:\t%s (scope %s)\n", f.tool, orNone(binding.Scope))
	}
	d := policy.Decide(claims, binding, policy.Call{Tool: f.tool, Arguments: json.RawMessage(f.args), At: at})
	printDecision(w, d)
	if !d.Allow {
		return errDenied
	}
	return nil
}
