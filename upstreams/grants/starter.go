package grants

// Starter is the commented file `legant init grants` writes. It parses, and
// checks clean against examples/upstreams/legant.yaml (tested).
const Starter = `# legant.grants.yaml — who may do what, reviewed like code.
#
#   legant lint  -f legant.grants.yaml --upstreams legant.yaml     # CI: non-zero exit on any problem
#   legant apply -f legant.grants.yaml --upstreams legant.yaml --keys .legant/keys --out .legant/tokens
#   legant apply ... --yes                                         # print the diff, then do it
#   legant who-can --grants legant.grants.yaml --upstreams legant.yaml --upstream expenses --tool submit_expense --amount 300
version: 1

# iss of every token these grants stand for (the issuer the gateway trusts).
issuer: https://gw.example

grants:
  # One grant = one delegation token: a user, the agents acting for them
  # (first delegate first), one upstream of the registry and its tools.
  - name: alice-travel            # unique; names the token file (alice-travel.jwt)
    user: alice
    agents: [planner]              # a chain: [planner, executor] lets planner hand work to executor
    upstream: expenses             # a slug of the upstream registry (legant.yaml)
    tools: [list_expenses, submit_expense]
    # scopes: derived from the tools' bindings; list them only to pin them.
    # Constraints: each one omitted leaves its dimension unrestricted.
    # They restrict a tool only through the argument its binding names
    # (lint reports a constraint no granted tool binds).
    max_amount: 500 USD            # per call, inclusive
    budget: 2000 USD               # over the token's life (the gateway's ledger)
    max_calls: 200                 # over the token's life
    categories: [travel, meals]
    window: mon-fri 08:00-20:00 Europe/Paris
    ttl: 720h                      # token lifetime; default 24h

  - name: bob-readonly
    user: bob
    agents: [reporter]
    upstream: expenses
    tools: [list_expenses]
    ttl: 24h
`
