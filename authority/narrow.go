package authority

import "fmt"

// narrowConstraints clamps the requested constraints to the parent's. With
// strict, a requested dimension looser than the parent's is an error.
func narrowConstraints(parent, req Constraints, strict bool) (Constraints, error) {
	p, err := parent.Normalize()
	if err != nil {
		return Constraints{}, err
	}
	r, err := req.Normalize()
	if err != nil {
		return Constraints{}, err
	}
	if strict {
		if err := checkWithin(p, r); err != nil {
			return Constraints{}, err
		}
	}
	out := Constraints{
		Tools:      p.Tools.Intersect(r.Tools),
		Resources:  p.Resources.Intersect(r.Resources),
		Categories: p.Categories.Intersect(r.Categories),
		MaxCalls:   minCount(p.MaxCalls, r.MaxCalls),
	}
	if out.MaxAmount, err = minMoney("max_amount", p.MaxAmount, r.MaxAmount); err != nil {
		return Constraints{}, err
	}
	if out.Budget, err = minMoney("budget", p.Budget, r.Budget); err != nil {
		return Constraints{}, err
	}
	if out.Window, err = narrowWindow(p.Window, r.Window); err != nil {
		return Constraints{}, err
	}
	return out, nil
}

// minMoney returns the smaller limit; nil means no limit. A child currency
// must be the parent's, unless the parent has none.
func minMoney(field string, parent, req *Money) (*Money, error) {
	switch {
	case req == nil:
		return parent, nil
	case parent == nil:
		return req, nil
	case req.Currency != "" && parent.Currency != "" && req.Currency != parent.Currency:
		return nil, &AttenuationError{Field: field, Msg: fmt.Sprintf("%s in %s, but the parent's is in %s", field, req.Currency, parent.Currency)}
	}
	out := Money{Value: parent.Value, Currency: parent.Currency}
	if req.Value.Cmp(parent.Value) < 0 {
		out.Value = req.Value
	}
	if out.Currency == "" {
		out.Currency = req.Currency
	}
	return &out, nil
}

func minCount(parent, req *int64) *int64 {
	switch {
	case req == nil:
		return parent
	case parent == nil || *req < *parent:
		return req
	}
	return parent
}

// narrowWindow intersects two windows of one zone; nil means any time.
func narrowWindow(parent, req *Window) (*Window, error) {
	switch {
	case req == nil:
		return parent, nil
	case parent == nil:
		return req, nil
	}
	w, err := parent.Intersect(*req)
	if err != nil {
		return nil, &AttenuationError{Field: "window", Msg: fmt.Sprintf("window in %s, but the parent's is in %s: windows are not converted between zones", req.Zone, parent.Zone)}
	}
	return &w, nil
}

// checkWithin refuses (for AttenuateOptions.Strict) every dimension the
// request restricts less than the parent. Unrestricted request dimensions
// inherit and are not errors.
func checkWithin(p, r Constraints) error {
	sets := []struct {
		field string
		p, r  Set
	}{{"tools", p.Tools, r.Tools}, {"resources", p.Resources, r.Resources}, {"categories", p.Categories, r.Categories}}
	for _, s := range sets {
		if !s.r.Unrestricted() && !s.r.Subset(s.p) {
			return &AttenuationError{Field: s.field, Msg: fmt.Sprintf("%s [%s] are not all granted by the parent's [%s]", s.field, setLimit(s.r), setLimit(s.p))}
		}
	}
	for _, m := range []struct {
		field string
		p, r  *Money
	}{{"max_amount", p.MaxAmount, r.MaxAmount}, {"budget", p.Budget, r.Budget}} {
		if m.r != nil && m.p != nil && m.r.Value.Cmp(m.p.Value) > 0 {
			return &AttenuationError{Field: m.field, Msg: fmt.Sprintf("%s %s exceeds the parent's %s", m.field, m.r, m.p)}
		}
	}
	if r.MaxCalls != nil && p.MaxCalls != nil && *r.MaxCalls > *p.MaxCalls {
		return &AttenuationError{Field: "max_calls", Msg: fmt.Sprintf("max_calls %d exceeds the parent's %d", *r.MaxCalls, *p.MaxCalls)}
	}
	return checkWindowWithin(p.Window, r.Window)
}

func checkWindowWithin(p, r *Window) error {
	if r == nil || p == nil || r.Zone != p.Zone {
		return nil // zone mismatch is reported by narrowWindow
	}
	w, _ := p.Intersect(*r)
	if !(Window{Zone: r.Zone, Segments: normalizeSegments(r.Segments)}).sameSegments(w) {
		return &AttenuationError{Field: "window", Msg: fmt.Sprintf("window %s is not inside the parent's %s", r, p)}
	}
	return nil
}

func (w Window) sameSegments(o Window) bool {
	if len(w.Segments) != len(o.Segments) {
		return false
	}
	for i := range w.Segments {
		if w.Segments[i] != o.Segments[i] {
			return false
		}
	}
	return true
}
