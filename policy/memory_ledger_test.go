package policy_test

import (
	"testing"

	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/policy/ledgertest"
)

func TestMemoryLedger(t *testing.T) {
	ledgertest.Run(t, func(*testing.T) policy.Ledger { return policy.NewMemoryLedger() })
}

func TestMemoryLedgerZeroValue(t *testing.T) {
	ledgertest.Run(t, func(*testing.T) policy.Ledger { return new(policy.MemoryLedger) })
}
