#!/usr/bin/env bash
# bench-ab.sh: a --legant wrapper for `legant bench` that puts two builds side
# by side in one run. The harness's `--async-audit` targets (child gateways
# started with --audit-mode async) run LEGANT_AB_OLD instead, with the
# durable audit mode; every other child runs LEGANT_AB_NEW (default
# bin/legant). So gateway+sqlite is the new build and gateway+sqlite+async the
# old one, both durable, rounds alternated:
#
#   git worktree add /tmp/old <commit> && (cd /tmp/old && go build -o /tmp/legant-old ./cmd/legant)
#   LEGANT_AB_OLD=/tmp/legant-old ./bin/legant bench --legant scripts/bench-ab.sh \
#     --quick --sessions -1 --concurrency 16,64 --rounds 6 --async-audit --workloads call/stateful
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
new=${LEGANT_AB_NEW:-$here/bin/legant}
old=${LEGANT_AB_OLD:?LEGANT_AB_OLD: the binary to compare against}
args=() prev="" use_old=0
for a in "$@"; do
	if [[ $prev == --audit-mode && $a == async ]]; then a=durable use_old=1; fi
	if [[ $a == --audit-mode=async ]]; then a=--audit-mode=durable use_old=1; fi
	args+=("$a") prev=$a
done
if ((use_old)); then exec "$old" "${args[@]}"; fi
exec "$new" "${args[@]}"
