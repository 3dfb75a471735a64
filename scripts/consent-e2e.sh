#!/usr/bin/env bash
# Consent page end to end in headless Chromium (docs/AUTHORIZATION.md):
# builds legant, adds a user, runs `legant demo` (the expenses server behind
# the gateway, with the co-resident authorization server), and drives
# scripts/consent-e2e/consent.mjs: register, log in, set max amount 200,
# approve, exchange the code; a call for 150 passes and one for 300 is denied
# at the gateway. The consent page is saved as docs/images/consent.png (or
# $CONSENT_SCREENSHOT).
#
# Needs: Go, Node.js 18+, npm, Chromium (Debian: apt-get install -y chromium;
# or set CHROMIUM=/path/to/chrome). playwright-core is installed from npm into
# .tools/consent-e2e (gitignored) on first use. Not part of `make test`.
set -euo pipefail

readonly PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.65.1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
shot="${CONSENT_SCREENSHOT:-$root/docs/images/consent.png}"
work="$(mktemp -d "${TMPDIR:-/tmp}/legant-consent.XXXXXX")"
pid=""
cleanup() {
	[[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

[[ -x "$CHROMIUM" ]] || { echo "consent-e2e: no Chromium at $CHROMIUM (apt-get install -y chromium, or set CHROMIUM)" >&2; exit 1; }
tools="$root/.tools/consent-e2e"
if [[ ! -d "$tools/node_modules/playwright-core" ]]; then
	echo "consent-e2e: installing playwright-core@$PLAYWRIGHT_VERSION into $tools" >&2
	mkdir -p "$tools"
	npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION" >&2
fi

go build -o "$work/legant" ./cmd/legant
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
data="$work/data"
password="consent e2e password"
printf '%s\n' "$password" | "$work/legant" users add --user alice --data-dir "$data" >/dev/null
"$work/legant" demo --listen "127.0.0.1:$port" --issuer "$base" --data-dir "$data" >"$work/demo.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	curl -fsS "$base/.well-known/oauth-authorization-server" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/demo.log" >&2; exit 1; }
	sleep 0.1
done
mkdir -p "$(dirname "$shot")"
# Run from beside its node_modules, where ES module resolution finds playwright-core.
cp "$root/scripts/consent-e2e/consent.mjs" "$tools/consent.mjs"
node "$tools/consent.mjs" "$base" alice "$password" "$shot" ||
	{ echo "--- legant demo log:" >&2; cat "$work/demo.log" >&2; exit 1; }
echo "consent-e2e: screenshot $shot"
