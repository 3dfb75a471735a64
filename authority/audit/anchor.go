package audit

import (
	"errors"
	"fmt"
	"time"

	"github.com/openlegant/legant/authority"
)

// JWS header "typ" values of the two signed checkpoints.
const (
	// AnchorType marks an anchor: a head of the chain exported for later
	// verification (it catches a truncated tail).
	AnchorType = "legant-audit-anchor+jwt"
	// PruneType marks a prune record: the events up to Seq were deleted by
	// retention, and the chain continues from Hash.
	PruneType = "legant-audit-prune+jwt"
)

// Anchor is a signed statement of a chain's head at a time: Seq is the
// sequence number of the last event, which is also the count of events ever
// appended (sequence numbers start at 1 and have no gaps), and Hash is its
// hash.
type Anchor struct {
	Issuer string    `json:"iss,omitempty"`
	Seq    int64     `json:"seq"`
	Hash   string    `json:"hash"`
	Time   time.Time `json:"-"`
	// IssuedAt is Time on the wire, in seconds since the epoch.
	IssuedAt int64 `json:"iat"`
}

// Checkpoint returns the anchored point of the chain.
func (a *Anchor) Checkpoint() Checkpoint { return Checkpoint{Seq: a.Seq, Hash: a.Hash} }

// SignAnchor signs a with k as a compact JWS whose header typ is typ
// (AnchorType or PruneType).
func SignAnchor(k *authority.Key, typ string, a Anchor) (string, error) {
	if err := checkType(typ); err != nil {
		return "", err
	}
	if a.Seq < 0 || (a.Seq > 0 && !isHexHash(a.Hash)) {
		return "", fmt.Errorf("audit: anchor seq %d hash %q is not a chain point", a.Seq, a.Hash)
	}
	a.IssuedAt = a.Time.Unix()
	return authority.SignJWS(k, typ, a)
}

// ErrBadAnchor reports an anchor whose signature, type or contents do not verify.
var ErrBadAnchor = errors.New("invalid audit anchor")

// VerifyAnchor checks a signed anchor of type typ against ks and returns it.
// now selects the keys that verify (see authority.KeySet.Lookup); to accept
// anchors signed by keys retired since, pass a key set holding every key.
func VerifyAnchor(token string, ks *authority.KeySet, typ string, now time.Time) (*Anchor, error) {
	if err := checkType(typ); err != nil {
		return nil, err
	}
	var a Anchor
	if err := authority.VerifyJWS(token, ks, typ, now, &a); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadAnchor, err)
	}
	if a.Seq < 0 || (a.Seq > 0 && !isHexHash(a.Hash)) || (a.Seq == 0 && a.Hash != "") {
		return nil, fmt.Errorf("%w: seq %d hash %q", ErrBadAnchor, a.Seq, a.Hash)
	}
	a.Time = time.Unix(a.IssuedAt, 0).UTC()
	return &a, nil
}

func checkType(typ string) error {
	if typ != AnchorType && typ != PruneType {
		return fmt.Errorf("audit: unknown anchor type %q", typ)
	}
	return nil
}
