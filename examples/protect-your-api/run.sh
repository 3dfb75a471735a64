#!/usr/bin/env bash
# Protect your API with the Legant Go SDK, end to end and offline:
#   1. build legant and this example;
#   2. create the issuer's keys (legant keys init) and mint a delegation token
#      (legant mint): alice -> planner -> executor, submit_expense up to 500 USD;
#   3. publish the issuer's JWKS and an empty signed revocation feed as files;
#   4. serve a net/http API and a go-sdk MCP server that verify tokens themselves;
#   5. show an allowed call, a denied one (amount), and, after revoking the agent
#      in the feed, a refused one.
# Usage: examples/protect-your-api/run.sh   (needs go and curl)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
pid=
pypid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	if [ -n "$pypid" ]; then kill "$pypid" 2>/dev/null || true; wait "$pypid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

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

# The same checks against the Python SDK (python/app.py, Flask), when Debian's
# python3 has its packages (scripts/sdk-python-test.sh installs them).
py=/usr/bin/python3
if "$py" -c 'import flask, jwt, cryptography' 2>/dev/null; then
	step "serve the Python (Flask) API with the same JWKS and feed files"
	PYTHONPATH="$root/sdk/python" "$py" "$here/python/app.py" --issuer "$issuer" --jwks "$work/jwks.json" \
		--feed "$work/revoked.jwt" --addr-file "$work/pyaddr" >"$work/py.log" 2>&1 &
	pypid=$!
	for _ in $(seq 100); do [ -s "$work/pyaddr" ] && break; sleep 0.1; done
	[ -s "$work/pyaddr" ] || { cat "$work/py.log"; fail "the Python server did not start"; }
	pypost() {
		curl -sS -o "$work/body" -D "$work/headers" -w '%{http_code}' -X POST \
			-H "Authorization: Bearer $token" "http://$(cat "$work/pyaddr")/expenses?amount=$1"
	}
	step "Python API: 300 USD (allowed)"
	code=$(pypost 300); show "$code"
	[ "$code" = 200 ] || fail "Python, 300 USD: HTTP $code"
	step "Python API: 700 USD (denied: over max_amount)"
	code=$(pypost 700); show "$code"
	[ "$code" = 403 ] && grep -q max_amount "$work/body" || fail "Python, 700 USD: HTTP $code"
else
	echo "(the Python API is skipped: $py lacks flask, jwt or cryptography; run scripts/sdk-python-test.sh)"
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

if [ -n "$pypid" ]; then
	for _ in $(seq 50); do
		code=$(pypost 1)
		[ "$code" = 401 ] && break
		sleep 0.1
	done
	step "Python API after the revocation"
	show "$code"
	[ "$code" = 401 ] || fail "Python, revoked token: HTTP $code"
fi

step "MCP after the revocation"
if out=$("$protect" mcp-call --url "http://$addr/mcp" --token "$token" --tool submit_expense --args '{"amount":1}' 2>&1); then
	fail "a revoked token was accepted over MCP: $out"
fi
echo "$out"

step "done: allowed, denied (amount) and revoked, all enforced by the SDK without the gateway"
