package grants

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openlegant/legant/upstreams"
)

// StateVersion is the format of State.
const StateVersion = 1

// State is what an apply minted, by grant name: the record that makes
// apply idempotent. cmd/legant keeps it as JSON beside the tokens.
type State struct {
	Version int               `json:"version"`
	Grants  map[string]Minted `json:"grants"`
	// Revoked are the tokens of grants removed or replaced, kept until they
	// expire: the offline revocation feed is signed from them.
	Revoked []Minted `json:"revoked,omitempty"`
	// FeedVersion is the version of the last revocation feed signed.
	FeedVersion int64 `json:"feed_version,omitempty"`
}

// Minted is one grant's token as last minted.
type Minted struct {
	Digest       string    `json:"digest"`        // Spec.Digest of what was minted
	JTI          string    `json:"jti"`           // the token's id
	DelegationID string    `json:"delegation_id"` // the token's (last link's) delegation
	RootID       string    `json:"root_delegation_id"`
	User         string    `json:"user"`
	Agents       []string  `json:"agents"`
	Upstream     string    `json:"upstream"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// Action is what a reconciliation does with one grant.
type Action string

const (
	ActionKeep    Action = "keep"    // minted with this digest and not expired: nothing to do
	ActionMint    Action = "mint"    // new grant
	ActionReplace Action = "replace" // the grant changed: revoke the old token, mint the new
	ActionRenew   Action = "renew"   // unchanged but the token expired: mint again
	ActionRevoke  Action = "revoke"  // the grant was removed: revoke its token
)

// Change is one step of a Plan.
type Change struct {
	Action Action
	Name   string
	Grant  *Grant  // nil for ActionRevoke
	Spec   Spec    // the spec to mint (mint, replace, renew)
	Old    *Minted // what is recorded (replace, renew, revoke, keep)
}

// Plan is an ordered reconciliation of a grants file with a State: grants
// in file order, then removed grants by name.
type Plan struct{ Changes []Change }

// Empty reports whether applying the plan would change nothing.
func (p Plan) Empty() bool {
	for _, c := range p.Changes {
		if c.Action != ActionKeep {
			return false
		}
	}
	return true
}

// PlanApply compares f, resolved against reg, with st at now. Every grant's
// upstream must exist in reg (run File.Check first).
func PlanApply(f *File, reg *upstreams.Registry, st State, now time.Time) (Plan, error) {
	var p Plan
	names := map[string]bool{}
	for _, g := range f.Grants {
		names[g.Name] = true
		up, ok := reg.Lookup(g.Upstream)
		if !ok {
			return Plan{}, fmt.Errorf("grant %s: unknown upstream %q", g.Name, g.Upstream)
		}
		spec, err := f.SpecFor(g, up)
		if err != nil {
			return Plan{}, err
		}
		c := Change{Action: ActionMint, Name: g.Name, Grant: g, Spec: spec}
		if old, ok := st.Grants[g.Name]; ok {
			c.Old = &old
			switch {
			case old.Digest != spec.Digest():
				c.Action = ActionReplace
			case !now.Before(old.ExpiresAt):
				c.Action = ActionRenew
			default:
				c.Action = ActionKeep
			}
		}
		p.Changes = append(p.Changes, c)
	}
	var gone []string
	for name := range st.Grants {
		if !names[name] {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	for _, name := range gone {
		old := st.Grants[name]
		p.Changes = append(p.Changes, Change{Action: ActionRevoke, Name: name, Old: &old})
	}
	return p, nil
}

// String renders the plan as a diff, one line per grant:
//
//   - mint     alice-travel  user:alice → agent:planner  expenses: submit_expense
//     ~ replace  bob-reports   …  (was jti …)
//   - revoke   carol-old     user:carol → agent:x  (jti …, delegation …)
//     keep     …
func (p Plan) String() string {
	var b strings.Builder
	for _, c := range p.Changes {
		sign := map[Action]string{ActionMint: "+", ActionReplace: "~", ActionRenew: "~", ActionRevoke: "-", ActionKeep: " "}[c.Action]
		switch {
		case c.Grant != nil:
			fmt.Fprintf(&b, "%s %-8s %s  %s  %s: %s", sign, c.Action, c.Name, c.Grant.Chain(), c.Grant.Upstream, strings.Join(c.Grant.Tools, ", "))
			if c.Old != nil && c.Action != ActionKeep {
				fmt.Fprintf(&b, "  (was jti %s)", c.Old.JTI)
			}
		default:
			chain := "user:" + c.Old.User
			for _, a := range c.Old.Agents {
				chain += " → agent:" + a
			}
			fmt.Fprintf(&b, "%s %-8s %s  %s  %s  (jti %s, delegation %s)", sign, c.Action, c.Name, chain, c.Old.Upstream, c.Old.JTI, c.Old.DelegationID)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
