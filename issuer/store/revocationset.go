package store

import (
	"sync"
	"sync/atomic"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
)

// RevocationSet is the in-memory view of every revocation, consulted by the
// gateway once per request with no database round trip. The store keeps it
// current: at once for revocations made through the same Store, through
// PostgreSQL LISTEN/NOTIFY for those made by other replicas (with a full
// resync after every reconnect), and by polling for other processes sharing
// an SQLite file.
//
// A RevocationSet is safe for concurrent use; Revoked takes a shared lock.
type RevocationSet struct {
	set     revfeed.Set
	version atomic.Int64 // highest revocation version loaded
	fresh   freshness    // health.go

	// subMu guards subs and nextSub.
	subMu   sync.Mutex
	subs    map[int]func(Revocation)
	nextSub int
}

func newRevocationSet() *RevocationSet {
	return &RevocationSet{subs: map[int]func(Revocation){}}
}

// Revoked reports whether a token with claims c is revoked, and why: by its
// jti, its delegation (or any delegation above it), the delegation it was
// attenuated from, its user, or an agent of its act chain. A nil c is revoked.
func (r *RevocationSet) Revoked(c *authority.Claims) (why string, revoked bool) {
	return r.set.Revoked(c)
}

// Version returns the highest revocation version loaded (0 before any).
func (r *RevocationSet) Version() int64 { return r.version.Load() }

// Len returns the number of revoked tokens, delegations, agents and users.
func (r *RevocationSet) Len() int { return r.set.Len() }

// Subscribe calls f with every revocation that enters the set from now on
// (from this Store or any other sharing the database), so that live sessions
// can be killed. f may be called from several goroutines at once and must not
// block; a revocation is delivered once per Store. The returned func
// unsubscribes.
func (r *RevocationSet) Subscribe(f func(Revocation)) (cancel func()) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	id := r.nextSub
	r.nextSub++
	r.subs[id] = f
	return func() {
		r.subMu.Lock()
		defer r.subMu.Unlock()
		delete(r.subs, id)
	}
}

// deliver calls the subscribers with new revocations, holding no lock.
func (r *RevocationSet) deliver(revs []Revocation) {
	if len(revs) == 0 {
		return
	}
	r.subMu.Lock()
	fs := make([]func(Revocation), 0, len(r.subs))
	for _, f := range r.subs {
		fs = append(fs, f)
	}
	r.subMu.Unlock()
	for _, rev := range revs {
		for _, f := range fs {
			f(rev)
		}
	}
}
