package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
)

var _ policy.Ledger = (*Store)(nil)

// account is one delegation's ledger row: its totals (its own calls and its
// descendants'), its parent and the limits recorded from a token of it.
type account struct {
	policy.Account
	parent string
	known  bool // limits were recorded (limits_known)
	limits policy.Limits
	// stored is the parent the delegations table gives ("" for none), read
	// with the row: parentTx then needs no query of its own.
	stored string
}

// Reserve implements policy.Ledger, atomically on both backends, on the
// delegation and every ancestor: the reservation's ParentID, then each
// delegation's parent as the ledger recorded it (from an earlier token) or,
// failing that, as the delegations table stores it. In one transaction (the
// group writer's: ledgerTx) the ledger rows are locked — the delegation's,
// which gives its parent, then its ancestors', root first (on PostgreSQL
// after the ledger's advisory lock, then FOR UPDATE; the write lock of BEGIN
// IMMEDIATE on SQLite) — holds older than Options.HoldTTL
// are freed, the limits of every level are checked with exact decimal
// arithmetic, and a hold row is recorded per level. The delegation's first
// reservation records its parent and its limits.
func (s *Store) Reserve(ctx context.Context, r policy.Reservation) (policy.Hold, error) {
	if r.DelegationID == "" || r.Amount.Sign() < 0 {
		return nil, fmt.Errorf("store: reservation needs a delegation id and a non-negative amount")
	}
	now := s.now()
	ttl := s.opts.HoldTTL
	if ttl <= 0 {
		ttl = DefaultHoldTTL
	}
	h := &hold{s: s, id: authority.NewID(), amount: r.Amount}
	err := s.ledgerTx(ctx, func(ctx context.Context, tx *groupTx) error {
		// The delegation's own account first: its row gives its parent
		// (parentTx), so that the ancestry costs no query for a delegation
		// without one. Every ledger write is serialized (the write lock on
		// SQLite, the ledger's advisory lock on PostgreSQL), so the order in
		// which a transaction locks accounts cannot deadlock it.
		if _, err := s.lockAccountsTx(ctx, tx, []string{r.DelegationID}, now); err != nil {
			return err
		}
		ids, err := s.ancestryTx(ctx, tx, r)
		if err != nil {
			return err
		}
		accts, err := s.lockAccountsTx(ctx, tx, ids, now)
		if err != nil {
			return err
		}
		for i, id := range ids {
			lim := r.Limits()
			if i > 0 {
				lim = r.AncestorLimits(accts[i].limits, accts[i].known)
			}
			if err := accts[i].Admit(id, i > 0, lim, r.Amount); err != nil {
				return err
			}
		}
		if own := accts[0]; !own.known {
			own.known, own.limits = true, r.Limits()
		}
		if accts[0].parent == "" {
			accts[0].parent = r.ParentID
		}
		h.levels = ids
		for i, id := range ids {
			a := accts[i]
			a.Held, a.CallsHeld = a.Held.Add(r.Amount), a.CallsHeld+1
			a.dirty = true
			if s.d.postgres { // written by flush, with an account's write-back
				tx.ledger.holds.add(h.rowID(i), id, r.Amount.String(), now.UnixNano(), now.Add(ttl).UnixNano())
				continue
			}
			if _, err := s.execTx(ctx, tx.Tx, `INSERT INTO ledger_holds (id, delegation_id, amount, state, created_ns, expires_ns)
				VALUES ($1, $2, `+s.d.decimalIn("$3")+`, 'held', $4, $5)`,
				h.rowID(i), id, r.Amount.String(), now.UnixNano(), now.Add(ttl).UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
	if _, denied := errors.AsType[*policy.LedgerDenied](err); denied {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("store: reserve: %w", err)
	}
	return h, nil
}

// ledgerTx runs a ledger write in the group writer's transaction with
// whatever else is queued: one commit — one fsync — for many budgeted calls.
// On SQLite that also spares polling for the write lock. On PostgreSQL it
// spares the row lock's queue: a budgeted call's writes each locked the
// delegation's ledger row for a transaction of four or five round trips and
// a WAL flush, so concurrent calls of one delegation (one agent's token)
// took turns on it — 16 of them got 381 calls/s with a p99 of 732 ms, and
// at 64 the store deadline cut 311 calls. A ledger write that ends in its
// own outcome (LedgerDenied, ErrHoldClosed) leaves the ledger consistent:
// the group commits what it wrote.
func (s *Store) ledgerTx(ctx context.Context, apply func(ctx context.Context, tx *groupTx) error) error {
	return s.groupWriter.do(ctx, apply)
}

// ledgerLockKey is the PostgreSQL advisory lock a transaction takes before
// its first ledger row (pg_advisory_xact_lock): replicas' group
// transactions lock the ledger rows of several delegations in the order of
// their writes, so without it two of them could each hold a row the other
// waits for (a deadlock, found after PostgreSQL's deadlock_timeout). With it
// they take turns, each for a whole group. ("legant L" in ASCII.)
const ledgerLockKey int64 = 0x6c6567616e74204c

// ledgerCache is what the ledger writes of one transaction have read: each
// account is read (locked, its expired holds freed) once per transaction,
// changed in memory by every write of the transaction, and written back
// once, by flush, before the commit. A group of budgeted calls on one
// delegation then reads and writes its account once, not twice per call
// (on SQLite each write is a statement of the transiled engine: the
// account's read and write were two thirds of a budgeted call's ledger
// CPU). Parents read are kept too.
type ledgerCache struct {
	accounts map[string]*cachedAccount
	order    []string // load order, the order of write-back
	parents  map[string]string
	locked   bool // PostgreSQL: ledgerLockKey is held
	// holds are the hold rows this transaction's reservations wrote, on
	// PostgreSQL: flush inserts them in the statement that writes back the
	// first changed account, one round trip for all of them. (No write of
	// the transaction reads them before: a hold is settled or released
	// only once its reservation was committed, and expireHoldsTx looks for
	// holds that are not new.)
	holds pendingHolds
}

// pendingHolds are hold rows to insert, one array per column.
type pendingHolds struct {
	ids, delegations, amounts []string
	created, expires          []int64
}

func (p *pendingHolds) add(id, delegation, amount string, created, expires int64) {
	p.ids, p.delegations, p.amounts = append(p.ids, id), append(p.delegations, delegation), append(p.amounts, amount)
	p.created, p.expires = append(p.created, created), append(p.expires, expires)
}

// pgInsertHolds inserts pendingHolds' arrays ($10…$14) as a statement's
// data-modifying WITH: PostgreSQL runs it once, whatever the statement
// after it does.
const pgInsertHolds = `WITH holds AS (INSERT INTO ledger_holds (id, delegation_id, amount, state, created_ns, expires_ns)
	SELECT h.id, h.delegation_id, CAST(h.amount AS NUMERIC), 'held', h.created_ns, h.expires_ns
	FROM unnest($10::text[], $11::text[], $12::text[], $13::bigint[], $14::bigint[]) AS h (id, delegation_id, amount, created_ns, expires_ns)) `

// cachedAccount is an account as this transaction has it.
type cachedAccount struct {
	account
	freed bool // its expired holds were freed in this transaction
	dirty bool // changed since read or written back
}

// flush writes back the accounts changed since read.
func (c *ledgerCache) flush(ctx context.Context, s *Store, tx *sql.Tx) error {
	for _, id := range c.order {
		if a := c.accounts[id]; a.dirty {
			holds := c.holds
			c.holds = pendingHolds{}
			if err := s.saveAccountTx(ctx, tx, id, a.account, holds); err != nil {
				return err
			}
			a.dirty = false
		}
	}
	if len(c.holds.ids) > 0 { // no account changed: not from Reserve, which always changes one
		return fmt.Errorf("store: ledger: %d hold rows and no account to write them with", len(c.holds.ids))
	}
	return nil
}

// ancestryTx returns the reservation's delegation followed by its ancestors,
// nearest first.
func (s *Store) ancestryTx(ctx context.Context, tx *groupTx, r policy.Reservation) ([]string, error) {
	ids := []string{r.DelegationID}
	next := r.ParentID
	if next == "" {
		var err error
		if next, err = s.parentTx(ctx, tx, r.DelegationID); err != nil {
			return nil, err
		}
	}
	for next != "" {
		if err := policy.CheckAncestor(ids, next); err != nil {
			return nil, err
		}
		ids = append(ids, next)
		var err error
		if next, err = s.parentTx(ctx, tx, next); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// parentTx returns a delegation's parent: the one the ledger recorded (in
// this transaction, or before), else the one the delegations table stores,
// else "".
func (s *Store) parentTx(ctx context.Context, tx *groupTx, id string) (string, error) {
	if a := tx.ledger.accounts[id]; a != nil { // read with its row: the same query's answer
		if a.parent != "" {
			return a.parent, nil
		}
		return a.stored, nil
	}
	if p, ok := tx.ledger.parents[id]; ok {
		return p, nil
	}
	var parent string
	s.parentQueries.Add(1)
	err := s.queryRowTx(ctx, tx.Tx, `SELECT COALESCE(
			NULLIF((SELECT parent_id FROM ledger WHERE delegation_id = $1), ''),
			(SELECT parent_id FROM delegations WHERE id = $1),
			'')`, id).Scan(&parent)
	if err != nil {
		return "", fmt.Errorf("parent of %s: %w", id, err)
	}
	if tx.ledger.parents == nil {
		tx.ledger.parents = map[string]string{}
	}
	tx.ledger.parents[id] = parent
	return parent, nil
}

// lockAccountsTx locks the ledger rows of ids (a delegation then its
// ancestors) root first, frees their expired holds unless now is zero (once
// per transaction), and returns them in the order of ids, as this
// transaction has them: the caller changes them in place and marks them
// dirty; the transaction's flush writes them back. Freed holds mark theirs
// dirty at once, so that what was written is consistent whatever the caller
// decides next.
func (s *Store) lockAccountsTx(ctx context.Context, tx *groupTx, ids []string, now time.Time) ([]*cachedAccount, error) {
	c := &tx.ledger
	if s.d.postgres && !c.locked {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, ledgerLockKey); err != nil {
			return nil, err
		}
		c.locked = true
	}
	accts := make([]*cachedAccount, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		a := c.accounts[ids[i]]
		if a == nil {
			read, err := s.lockAccountTx(ctx, tx.Tx, ids[i])
			if err != nil {
				return nil, err
			}
			a = &cachedAccount{account: read}
			if c.accounts == nil {
				c.accounts = map[string]*cachedAccount{}
			}
			c.accounts[ids[i]] = a
			c.order = append(c.order, ids[i])
		}
		// An account holding no call has no hold to expire: the query is
		// skipped (at low load, where the previous call's settlement is
		// written just before the next reservation, it always is).
		if !now.IsZero() && !a.freed && a.CallsHeld > 0 {
			expired, err := s.expireHoldsTx(ctx, tx.Tx, ids[i], now, &a.account)
			if err != nil {
				return nil, err
			}
			a.dirty = a.dirty || expired > 0
		}
		if !now.IsZero() {
			a.freed = true
		}
		accts[i] = a
	}
	return accts, nil
}

// lockAccountTx creates the delegation's ledger row if needed and reads it
// under a lock held until the transaction ends.
func (s *Store) lockAccountTx(ctx context.Context, tx *sql.Tx, id string) (account, error) {
	var (
		a           account
		spent, held string
		known       int64
		budget      sql.NullString
		maxCalls    sql.NullInt64
	)
	read := func() error {
		return s.queryRowTx(ctx, tx, `SELECT `+s.d.decimalOut("spent")+`, `+s.d.decimalOut("held")+`, calls, calls_held,
		parent_id, limits_known, `+s.d.decimalOut("budget_limit")+`, max_calls_limit,
		COALESCE((SELECT parent_id FROM delegations WHERE id = $1), '')
		FROM ledger WHERE delegation_id = $1`+s.d.forUpdate(), id).
			Scan(&spent, &held, &a.Calls, &a.CallsHeld, &a.parent, &known, &budget, &maxCalls, &a.stored)
	}
	err := read()
	if errors.Is(err, sql.ErrNoRows) { // the delegation's first reservation
		if _, err := s.execTx(ctx, tx, `INSERT INTO ledger (delegation_id) VALUES ($1) ON CONFLICT (delegation_id) DO NOTHING`, id); err != nil {
			return account{}, err
		}
		err = read()
	}
	if err != nil {
		return account{}, err
	}
	if a.Spent, err = authority.ParseDecimal(spent); err != nil {
		return account{}, fmt.Errorf("ledger %s: spent %q: %w", id, spent, err)
	}
	if a.Held, err = authority.ParseDecimal(held); err != nil {
		return account{}, fmt.Errorf("ledger %s: held %q: %w", id, held, err)
	}
	a.known = known != 0
	if budget.Valid {
		b, err := authority.ParseDecimal(budget.String)
		if err != nil {
			return account{}, fmt.Errorf("ledger %s: budget_limit %q: %w", id, budget.String, err)
		}
		a.limits.Budget = &b
	}
	if maxCalls.Valid {
		a.limits.MaxCalls = &maxCalls.Int64
	}
	return a, nil
}

// saveAccountTx writes an account back, and on PostgreSQL inserts holds
// (pendingHolds) in the same statement.
func (s *Store) saveAccountTx(ctx context.Context, tx *sql.Tx, id string, a account, holds pendingHolds) error {
	var budget, maxCalls any
	if a.limits.Budget != nil {
		budget = a.limits.Budget.String()
	}
	if a.limits.MaxCalls != nil {
		maxCalls = *a.limits.MaxCalls
	}
	known := 0
	if a.known {
		known = 1
	}
	s.accountWrites.Add(1)
	update := `UPDATE ledger SET spent = ` + s.d.decimalIn("$1") + `, held = ` + s.d.decimalIn("$2") + `,
		calls = $3, calls_held = $4, parent_id = $5, limits_known = $6,
		budget_limit = ` + s.d.decimalIn("$7") + `, max_calls_limit = $8 WHERE delegation_id = $9`
	args := []any{a.Spent.String(), a.Held.String(), a.Calls, a.CallsHeld, a.parent, known, budget, maxCalls, id}
	if len(holds.ids) > 0 {
		update = pgInsertHolds + update
		args = append(args, holds.ids, holds.delegations, holds.amounts, holds.created, holds.expires)
	}
	_, err := s.execTx(ctx, tx, update, args...)
	return err
}

// expireHoldsTx frees the delegation's holds whose time ran out (their
// gateway died before settling or releasing), with the account row locked,
// and returns how many it freed (a holds the account, not yet saved). Each
// level of a hold expires with its own account.
func (s *Store) expireHoldsTx(ctx context.Context, tx *sql.Tx, id string, now time.Time, a *account) (int, error) {
	rows, err := s.queryTx(ctx, tx, `SELECT id, `+s.d.decimalOut("amount")+` FROM ledger_holds
		WHERE delegation_id = $1 AND state = 'held' AND expires_ns <= $2`, id, now.UnixNano())
	if err != nil {
		return 0, err
	}
	var expired []string
	for rows.Next() {
		var hid, amount string
		if err := rows.Scan(&hid, &amount); err != nil {
			rows.Close()
			return 0, err
		}
		d, err := authority.ParseDecimal(amount)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("hold %s: amount %q: %w", hid, amount, err)
		}
		a.Held, a.CallsHeld = a.Held.Sub(d), a.CallsHeld-1
		expired = append(expired, hid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, hid := range expired {
		if _, err := s.execTx(ctx, tx, `UPDATE ledger_holds SET state = 'expired', closed_ns = $1 WHERE id = $2`, now.UnixNano(), hid); err != nil {
			return 0, err
		}
	}
	return len(expired), nil
}

// Spent returns a delegation's settled spending and call count, its
// descendants' included (zero for a delegation the ledger has never seen),
// with every settlement this process queued before the call
// (Hold.CloseQueued) applied.
func (s *Store) Spent(ctx context.Context, delegationID string) (authority.Decimal, int64, error) {
	if err := s.groupWriter.barrier(ctx); err != nil {
		return authority.Decimal{}, 0, fmt.Errorf("store: spent: %w", err)
	}
	var spent string
	var calls int64
	err := s.db.QueryRowContext(ctx, `SELECT `+s.d.decimalOut("spent")+`, calls FROM ledger WHERE delegation_id = $1`, delegationID).Scan(&spent, &calls)
	if errors.Is(err, sql.ErrNoRows) {
		return authority.Decimal{}, 0, nil
	}
	if err != nil {
		return authority.Decimal{}, 0, fmt.Errorf("store: spent: %w", err)
	}
	d, err := authority.ParseDecimal(spent)
	return d, calls, err
}
