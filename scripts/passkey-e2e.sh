#!/usr/bin/env bash
# Passkeys end to end in headless Chromium with a virtual authenticator
# (docs/AUTHORIZATION.md, "Passkeys"): builds legant, adds a user, runs
# `legant demo` with a domain-name issuer (http://localhost:PORT: WebAuthn RP
# ids are domain names) and drives scripts/passkey-e2e/passkey.mjs: password
# login, passkey registration, logout, passwordless sign-in.
#
# Needs what scripts/consent-e2e.sh needs (Go, Node.js 18+, npm, Chromium);
# playwright-core is installed from npm into .tools/consent-e2e on first use.
# Not part of `make test`.
set -euo pipefail

readonly PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.65.1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
work="$(mktemp -d "${TMPDIR:-/tmp}/legant-passkey.XXXXXX")"
pid=""
cleanup() {
	[[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

[[ -x "$CHROMIUM" ]] || { echo "passkey-e2e: no Chromium at $CHROMIUM (apt-get install -y chromium, or set CHROMIUM)" >&2; exit 1; }
tools="$root/.tools/consent-e2e"
if [[ ! -d "$tools/node_modules/playwright-core" ]]; then
	echo "passkey-e2e: installing playwright-core@$PLAYWRIGHT_VERSION into $tools" >&2
	mkdir -p "$tools"
	npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION" >&2
fi

go build -o "$work/legant" ./cmd/legant
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://localhost:$port"
data="$work/data"
password="passkey e2e password"
printf '%s\n' "$password" | "$work/legant" users add --user alice --data-dir "$data" >/dev/null
"$work/legant" demo --listen "127.0.0.1:$port" --issuer "$base" --data-dir "$data" >"$work/demo.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	curl -fsS "http://127.0.0.1:$port/.well-known/oauth-authorization-server" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/demo.log" >&2; exit 1; }
	sleep 0.1
done
cp "$root/scripts/passkey-e2e/passkey.mjs" "$tools/passkey.mjs"
node "$tools/passkey.mjs" "$base" alice "$password" ||
	{ echo "--- legant demo log:" >&2; cat "$work/demo.log" >&2; exit 1; }
