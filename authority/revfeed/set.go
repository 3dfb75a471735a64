package revfeed

import (
	"fmt"
	"sync"

	"github.com/openlegant/legant/authority"
)

// Kind is what a revocation names.
type Kind string

// The four kinds of revocation.
const (
	KindToken      Kind = "jti"        // one token, by its jti
	KindDelegation Kind = "delegation" // a delegation; tokens derived from it carry its id or name it as parent
	KindAgent      Kind = "agent"      // every token whose act chain contains the agent
	KindUser       Kind = "user"       // every token whose sub is the user
)

// Kinds lists every kind, in a fixed order.
var Kinds = []Kind{KindToken, KindDelegation, KindAgent, KindUser}

// Valid reports whether k is one of the four kinds.
func (k Kind) Valid() bool { return k.index() >= 0 }

func (k Kind) index() int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return -1
}

// Entry is one revoked thing.
type Entry struct {
	Kind   Kind
	Value  string
	Reason string // "" when unknown (a feed carries no reasons)
}

// Set is the set of revoked tokens, delegations, agents and users, consulted
// once per request. The zero Set is empty and ready to use. A Set is safe for
// concurrent use: lookups share a read lock and never block each other.
type Set struct {
	mu sync.RWMutex
	m  [4]map[string]string // by Kind index: value -> reason
}

// Add records e and reports whether it was new. Entries of unknown kind are ignored.
func (s *Set) Add(e Entry) bool {
	i := e.Kind.index()
	if i < 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[i] == nil {
		s.m[i] = make(map[string]string)
	}
	if _, ok := s.m[i][e.Value]; ok {
		return false
	}
	s.m[i][e.Value] = e.Reason
	return true
}

// Replace makes the set hold exactly entries and returns those that were not
// in it before.
func (s *Set) Replace(entries []Entry) (added []Entry) {
	var next [4]map[string]string
	for i := range next {
		next[i] = make(map[string]string)
	}
	for _, e := range entries {
		if i := e.Kind.index(); i >= 0 {
			next[i][e.Value] = e.Reason
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		if i := e.Kind.index(); i >= 0 {
			if _, ok := s.m[i][e.Value]; !ok {
				added = append(added, e)
			}
		}
	}
	s.m = next
	return added
}

// Len returns the number of entries.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, m := range s.m {
		n += len(m)
	}
	return n
}

// Revoked reports whether a token with claims c is revoked and why: its jti,
// its delegation or the delegation it was attenuated from, its user, or any
// agent of its act chain. A nil c is revoked (fail closed).
func (s *Set) Revoked(c *authority.Claims) (why string, revoked bool) {
	if c == nil {
		return "no claims", true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if r, ok := s.lookupLocked(KindToken, c.ID); ok {
		return because("token "+c.ID, r), true
	}
	if r, ok := s.lookupLocked(KindDelegation, c.DelegationID); ok {
		return because("delegation "+c.DelegationID, r), true
	}
	if r, ok := s.lookupLocked(KindDelegation, c.ParentID); ok {
		return because("parent delegation "+c.ParentID, r), true
	}
	if r, ok := s.lookupLocked(KindUser, c.Subject); ok {
		return because("user "+c.Subject, r), true
	}
	if len(s.m[KindAgent.index()]) > 0 {
		for _, a := range c.Chain() {
			if r, ok := s.lookupLocked(KindAgent, a); ok {
				return because("agent "+a, r), true
			}
		}
	}
	return "", false
}

// lookupLocked finds a non-empty value of kind k; s.mu must be held.
func (s *Set) lookupLocked(k Kind, v string) (string, bool) {
	if v == "" {
		return "", false
	}
	r, ok := s.m[k.index()][v]
	return r, ok
}

func because(what, reason string) string {
	if reason == "" {
		return fmt.Sprintf("%s revoked", what)
	}
	return fmt.Sprintf("%s revoked: %s", what, reason)
}
