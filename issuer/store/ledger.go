package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
)

var _ policy.Ledger = (*Store)(nil)

// account is one delegation's ledger row.
type account struct {
	spent, held      authority.Decimal
	calls, callsHeld int64
}

// Reserve implements policy.Ledger, atomically on both backends: the
// delegation's ledger row is locked (FOR UPDATE on PostgreSQL, the write lock
// of BEGIN IMMEDIATE on SQLite), holds older than Options.HoldTTL are freed,
// the limits are checked with exact decimal arithmetic, and the hold is
// recorded, in one transaction. It charges only the delegation named (not its
// ancestors).
func (s *Store) Reserve(ctx context.Context, r policy.Reservation) (policy.Hold, error) {
	if r.DelegationID == "" || r.Amount.Sign() < 0 {
		return nil, fmt.Errorf("store: reservation needs a delegation id and a non-negative amount")
	}
	now := s.now()
	ttl := s.opts.HoldTTL
	if ttl <= 0 {
		ttl = DefaultHoldTTL
	}
	h := &hold{s: s, id: authority.NewID(), delegation: r.DelegationID, amount: r.Amount}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.lockAccountTx(ctx, tx, r.DelegationID)
		if err != nil {
			return err
		}
		if err := s.expireHoldsTx(ctx, tx, r.DelegationID, now, &a); err != nil {
			return err
		}
		if err := checkLimits(a, r); err != nil {
			return err
		}
		a.held, a.callsHeld = a.held.Add(r.Amount), a.callsHeld+1
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_holds (id, delegation_id, amount, state, created_ns, expires_ns)
			VALUES ($1, $2, `+s.d.decimalIn("$3")+`, 'held', $4, $5)`,
			h.id, r.DelegationID, r.Amount.String(), now.UnixNano(), now.Add(ttl).UnixNano()); err != nil {
			return err
		}
		return s.saveAccountTx(ctx, tx, r.DelegationID, a)
	})
	if _, denied := errors.AsType[*policy.LedgerDenied](err); denied {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("store: reserve: %w", err)
	}
	return h, nil
}

// checkLimits applies the same rules, in the same order, as policy.MemoryLedger.
func checkLimits(a account, r policy.Reservation) error {
	if r.MaxCalls != nil {
		if n := a.calls + a.callsHeld + 1; n > *r.MaxCalls {
			return &policy.LedgerDenied{Reason: policy.ReasonMaxCalls, Limit: strconv.FormatInt(*r.MaxCalls, 10), Value: strconv.FormatInt(n, 10)}
		}
	}
	if r.Budget != nil {
		if total := a.spent.Add(a.held).Add(r.Amount); total.Cmp(*r.Budget) > 0 {
			return &policy.LedgerDenied{Reason: policy.ReasonBudget, Limit: r.Budget.String(), Value: total.String()}
		}
	}
	return nil
}

// lockAccountTx creates the delegation's ledger row if needed and reads it
// under a lock held until the transaction ends.
func (s *Store) lockAccountTx(ctx context.Context, tx *sql.Tx, id string) (account, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger (delegation_id) VALUES ($1) ON CONFLICT (delegation_id) DO NOTHING`, id); err != nil {
		return account{}, err
	}
	var a account
	var spent, held string
	err := tx.QueryRowContext(ctx, `SELECT `+s.d.decimalOut("spent")+`, `+s.d.decimalOut("held")+`, calls, calls_held
		FROM ledger WHERE delegation_id = $1`+s.d.forUpdate(), id).Scan(&spent, &held, &a.calls, &a.callsHeld)
	if err != nil {
		return account{}, err
	}
	if a.spent, err = authority.ParseDecimal(spent); err != nil {
		return account{}, fmt.Errorf("ledger %s: spent %q: %w", id, spent, err)
	}
	if a.held, err = authority.ParseDecimal(held); err != nil {
		return account{}, fmt.Errorf("ledger %s: held %q: %w", id, held, err)
	}
	return a, nil
}

func (s *Store) saveAccountTx(ctx context.Context, tx *sql.Tx, id string, a account) error {
	_, err := tx.ExecContext(ctx, `UPDATE ledger SET spent = `+s.d.decimalIn("$1")+`, held = `+s.d.decimalIn("$2")+`,
		calls = $3, calls_held = $4 WHERE delegation_id = $5`, a.spent.String(), a.held.String(), a.calls, a.callsHeld, id)
	return err
}

// expireHoldsTx frees the delegation's holds whose time ran out (their
// gateway died before settling or releasing), with the account row locked.
func (s *Store) expireHoldsTx(ctx context.Context, tx *sql.Tx, id string, now time.Time, a *account) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, `+s.d.decimalOut("amount")+` FROM ledger_holds
		WHERE delegation_id = $1 AND state = 'held' AND expires_ns <= $2`, id, now.UnixNano())
	if err != nil {
		return err
	}
	var expired []string
	for rows.Next() {
		var hid, amount string
		if err := rows.Scan(&hid, &amount); err != nil {
			rows.Close()
			return err
		}
		d, err := authority.ParseDecimal(amount)
		if err != nil {
			rows.Close()
			return fmt.Errorf("hold %s: amount %q: %w", hid, amount, err)
		}
		a.held, a.callsHeld = a.held.Sub(d), a.callsHeld-1
		expired = append(expired, hid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, hid := range expired {
		if _, err := tx.ExecContext(ctx, `UPDATE ledger_holds SET state = 'expired', closed_ns = $1 WHERE id = $2`, now.UnixNano(), hid); err != nil {
			return err
		}
	}
	return nil
}

// Spent returns a delegation's settled spending and call count (zero for a
// delegation the ledger has never seen).
func (s *Store) Spent(ctx context.Context, delegationID string) (authority.Decimal, int64, error) {
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
