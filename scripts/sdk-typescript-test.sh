#!/usr/bin/env bash
# Runs the TypeScript SDK's suite (sdk/typescript): installs Node.js 22
# (scripts/node22.sh), its locked dependencies (npm ci), builds and
# type-checks it (tsc), then runs every test with node --test and prints
# node's summary. Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# node22.sh installs Node 22 with npm; a fresh Debian CI machine (root) may lack npm.
if ! command -v npm >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
	echo "sdk-typescript-test: installing npm from Debian" >&2
	apt-get update -q >&2 && apt-get install -y -q npm >&2
fi
node="$("$root/scripts/node22.sh")"
export PATH="$(dirname "$node"):$PATH"
cd "$root/sdk/typescript"

echo "sdk-typescript-test: node $(node --version), npm ci" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
echo "sdk-typescript-test: tsc (build and type-check)" >&2
npx --no-install tsc -p tsconfig.json
echo "sdk-typescript-test: node --test" >&2
node --test --test-reporter=spec --test-concurrency=2 'test/*.test.mjs'
