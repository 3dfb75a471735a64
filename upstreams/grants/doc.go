// Package grants owns legant.grants.yaml: who (a user and the agents acting
// for them) may do what (one upstream's tools, with constraints), kept as a
// file reviewed like code.
//
// It parses the file with file:line:col errors in the form of
// upstreams.ValidationError, checks it against the upstream registry (unknown
// tools, scopes no tool needs, constraints no granted tool binds), builds the
// delegation claims each grant stands for, and plans a reconciliation: which
// grants to mint, which to keep and which to revoke, against a State that
// records what was minted by content digest.
//
// It does no I/O beyond reading the file in Load, signs nothing and opens no
// store: `legant apply` (cmd/legant) signs and records what Plan says.
//
//	f, err := grants.Load("legant.grants.yaml")          // upstreams.ValidationErrors
//	problems := f.Check(reg)                             // against the registry
//	plan := grants.PlanApply(f, reg, state, time.Now())  // mint / keep / revoke
package grants
