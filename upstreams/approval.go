package upstreams

import (
	"time"

	"github.com/openlegant/legant/policy"
)

// approvalSpec is a tool's `approval: {from: [bob, carol], ttl: 15m}`: the
// call needs a second human among from (policy.Approval).
type approvalSpec struct {
	from field[[]field[string]]
	ttl  field[time.Duration]
}

func (d *decoder) approval(e entry) field[approvalSpec] {
	f := field[approvalSpec]{node: e.val, path: e.path}
	f.bad = !d.fields(e.val, e.path, "a mapping with from (the approvers) and optionally ttl", map[string]func(entry){
		"from": func(e entry) { f.v.from = d.strList(e) },
		"ttl":  func(e entry) { f.v.ttl = d.duration(e) },
	})
	return f
}

// approvalOf validates an approval: from names at least one user, each
// once; ttl, when set, is positive and at most policy.MaxApprovalTTL.
func (d *decoder) approvalOf(f field[approvalSpec]) *policy.Approval {
	if !f.ok() {
		return nil
	}
	a := &policy.Approval{}
	seen := map[string]bool{}
	for _, u := range f.v.from.v {
		switch {
		case !u.ok():
		case u.v == "" || !scopeRE.MatchString(u.v):
			d.errorf(u.node, u.path, "%q is not a user (a token subject: printable ASCII without spaces)", u.v)
		case seen[u.v]:
			d.errorf(u.node, u.path, "duplicate approver %q", u.v)
		default:
			seen[u.v] = true
			a.From = append(a.From, u.v)
		}
	}
	if !f.v.from.set() || (f.v.from.ok() && len(f.v.from.v) == 0) {
		d.errorf(f.node, f.path+".from", "must name at least one approver (a user other than the caller)")
	}
	if t := f.v.ttl; t.ok() {
		switch {
		case t.v <= 0:
			d.errorf(t.node, t.path, "must be positive")
		case t.v > policy.MaxApprovalTTL:
			d.errorf(t.node, t.path, "must be at most %s", policy.MaxApprovalTTL)
		default:
			a.TTL = t.v
		}
	}
	return a
}
