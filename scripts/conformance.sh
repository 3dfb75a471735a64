#!/usr/bin/env bash
# MCP conformance harness.
#
# Phase 1 (direct): the official conformance upstream (go-sdk's everything-server)
# against the MCP conformance suite, with no gateway in between. This is the
# baseline; it must pass with at least CONFORMANCE_EXPECTED_DIRECT checks.
#
# Phase 2 (gateway): the same suite through `legant gateway`, which fronts a fresh
# everything-server with every tool bound and an all-tools token. The suite cannot
# send headers, so scripts/bearerproxy adds the bearer token. Phase 2 must pass as
# many checks as phase 1.
#
# Environment (all optional):
#   CONFORMANCE_GATEWAY          require (default): phase 2 must run and match phase 1;
#                                auto: run it when `legant gateway` builds; skip: never run it
#   CONFORMANCE_EXPECTED_DIRECT  checks phase 1 must pass (default 40)
#   CONFORMANCE_SUITE_TIMEOUT    seconds one suite run may take (default 600)
#   CONFORMANCE_KEEP             1: keep the log directory even on success
#   LEGANT_BIN                   a prebuilt legant binary for phase 2 (default: build ./cmd/legant)
#
# Tools are installed under .tools/ (gitignored) on first use: Node 22 from npm
# (scripts/node22.sh), the suite from npm, everything-server with `go install`.
set -euo pipefail

readonly CONFORMANCE_PKG="@modelcontextprotocol/conformance"
readonly CONFORMANCE_VERSION="0.1.16"
readonly GO_SDK_MODULE="github.com/modelcontextprotocol/go-sdk"
readonly GO_SDK_VERSION="v1.8.0"
readonly EXPECTED_DIRECT="${CONFORMANCE_EXPECTED_DIRECT:-40}"
readonly GATEWAY_MODE="${CONFORMANCE_GATEWAY:-require}"
readonly SUITE_TIMEOUT="${CONFORMANCE_SUITE_TIMEOUT:-600}"
readonly UPSTREAM_SLUG="everything"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="$(mktemp -d "${TMPDIR:-/tmp}/legant-conformance.XXXXXX")"
mkdir -p "$work/bin"
pids=()

log() { echo "conformance: $*"; }
die() {
	echo "conformance: error: $*" >&2
	exit 1
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
	for _ in $(seq 50); do
		local alive=0
		for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if ((rc != 0)); then
		local f
		for f in "$work"/*.log; do
			[[ -s "$f" ]] || continue
			echo "----- last 40 lines of $f -----" >&2
			tail -n 40 "$f" >&2
		done
		echo "conformance: logs kept in $work" >&2
	elif [[ "${CONFORMANCE_KEEP:-}" == 1 ]]; then
		log "logs kept in $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# elapsed START prints the seconds since START (an $EPOCHREALTIME value).
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }'; }

# start_bg LOG CMD... starts CMD in the background, in a process group of its own,
# with stdout and stderr in LOG, records it for cleanup, and sets last_pid (which is
# also the process group id, so cleanup ends CMD's children too).
start_bg() {
	local logfile=$1
	shift
	setsid "$@" >"$logfile" 2>&1 &
	last_pid=$!
	pids+=("$last_pid")
}

# free_port prints a TCP port that was free on 127.0.0.1 a moment ago.
free_port() {
	"$node" -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# wait_http URL PID LOG waits until URL answers any HTTP status, failing if PID exits.
wait_http() {
	local url=$1 pid=$2 logfile=$3 code
	for _ in $(seq 150); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "conformance: process $pid ($logfile) exited before $url answered" >&2
			return 1
		fi
		code="$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "$url" || true)"
		[[ "$code" != 000 ]] && return 0
		sleep 0.1
	done
	echo "conformance: $url did not answer within 15s" >&2
	return 1
}

# --- tools -------------------------------------------------------------------

install_tools() {
	node="$("$root/scripts/node22.sh")"

	local dir="$root/.tools/conformance"
	suite_js="$dir/node_modules/$CONFORMANCE_PKG/dist/index.js"
	local have=""
	if [[ -f "$dir/node_modules/$CONFORMANCE_PKG/package.json" ]]; then
		have="$("$node" -p "require('$dir/node_modules/$CONFORMANCE_PKG/package.json').version")"
	fi
	if [[ "$have" != "$CONFORMANCE_VERSION" ]]; then
		log "installing $CONFORMANCE_PKG@$CONFORMANCE_VERSION into $dir"
		mkdir -p "$dir"
		npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
			"$CONFORMANCE_PKG@$CONFORMANCE_VERSION" >"$work/npm-conformance.log" 2>&1 ||
			die "npm install $CONFORMANCE_PKG@$CONFORMANCE_VERSION failed (see $work/npm-conformance.log)"
	fi
	[[ -f "$suite_js" ]] || die "$suite_js missing after install"

	everything_server="$root/.tools/bin/everything-server"
	if ! go version -m "$everything_server" 2>/dev/null |
		awk -v m="$GO_SDK_MODULE" -v v="$GO_SDK_VERSION" '$1 == "mod" && $2 == m && $3 == v { ok = 1 } END { exit !ok }'; then
		log "installing everything-server from $GO_SDK_MODULE@$GO_SDK_VERSION"
		env -u GOFLAGS GOBIN="$root/.tools/bin" \
			go install "$GO_SDK_MODULE/conformance/everything-server@$GO_SDK_VERSION"
	fi

	go build -o "$work/bin/bearerproxy" ./scripts/bearerproxy
	go build -o "$work/bin/listtools" ./scripts/listtools
}

# start_everything_server NAME starts a fresh everything-server (stateful streamable
# HTTP; it serves MCP on every path) and sets upstream_url to its /mcp endpoint.
start_everything_server() {
	local name=$1 port
	for _ in 1 2 3; do
		port="$(free_port)"
		start_bg "$work/$name.log" "$everything_server" -http "127.0.0.1:$port" -stateless=false
		if wait_http "http://127.0.0.1:$port/mcp" "$last_pid" "$work/$name.log"; then
			upstream_url="http://127.0.0.1:$port/mcp"
			return 0
		fi
	done
	die "everything-server did not start"
}

# --- the suite ---------------------------------------------------------------

# run_suite NAME URL runs the server suite against URL. The suite prints one line
# per scenario ("✓ ping: 1 passed, 0 failed", ✗ when any check failed) under
# "=== SUMMARY ===" and closes with "Total: P passed, F failed"; it exits 1 when a
# check failed. Sets suite_passed, suite_failed, suite_rc, and writes
# "scenario passed failed" lines to $work/NAME.scenarios.
run_suite() {
	local name=$1 url=$2 out="$work/$1-suite.log"
	suite_rc=0
	timeout "$SUITE_TIMEOUT" "$node" "$suite_js" server --url "$url" \
		--output-dir "$work/$name-results" >"$out" 2>&1 || suite_rc=$?
	sed -n '/^=== SUMMARY ===$/,$p' "$out"
	local total
	total="$(grep -E '^Total: [0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1 || true)"
	if [[ -z "$total" ]]; then
		echo "conformance: $name: no 'Total:' line in the suite output (exit $suite_rc)" >&2
		suite_passed=0 suite_failed=0
		((suite_rc != 0)) || suite_rc=1
	else
		suite_passed="$(sed -E 's/^Total: ([0-9]+) passed.*/\1/' <<<"$total")"
		suite_failed="$(sed -E 's/^Total: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$total")"
	fi
	grep -E '^(✓|✗) [^:]+: [0-9]+ passed, [0-9]+ failed' "$out" |
		sed -E 's/^(✓|✗) ([^:]+): ([0-9]+) passed, ([0-9]+) failed.*/\2 \3 \4/' \
			>"$work/$name.scenarios" || true
}

# --- phase 1: direct ---------------------------------------------------------

direct_passed=0 direct_failed=0 direct_ok=0
phase_direct() {
	log "phase 1: suite against everything-server directly"
	start_everything_server everything-direct
	log "everything-server at $upstream_url"
	log "running: $node $suite_js server --url $upstream_url"
	run_suite direct "$upstream_url"
	direct_passed=$suite_passed direct_failed=$suite_failed
	if ((suite_rc == 0 && direct_failed == 0 && direct_passed >= EXPECTED_DIRECT)); then
		direct_ok=1
	else
		echo "conformance: direct run failed: exit $suite_rc, $direct_passed passed, $direct_failed failed, want >= $EXPECTED_DIRECT passed and 0 failed" >&2
	fi
}

# --- phase 2: through legant gateway -----------------------------------------
#
# The commands phase 2 uses (docs/GATEWAY.md):
#
#   legant gateway --listen ADDR --upstreams FILE --data-dir DIR
#       serves MCP for each upstream at http://ADDR/mcp/<slug>; the issuer keys it
#       trusts are created in DIR/keys on first start
#   legant mint --keys DIR/keys --issuer URL --user U --agent A --aud URL --scope S... --ttl D
#       prints a delegation token; no --tool means every bound tool
#
# and the upstreams file written by write_upstreams_yaml.

# legant_available builds cmd/legant into $work/bin (or takes $LEGANT_BIN) and
# checks for `legant gateway`.
legant_available() {
	if [[ -n "${LEGANT_BIN:-}" ]]; then
		legant="$LEGANT_BIN"
	else
		legant="$work/bin/legant"
		go build -o "$legant" ./cmd/legant >"$work/legant-build.log" 2>&1 || return 1
	fi
	"$legant" gateway --help >"$work/legant-gateway-help.log" 2>&1 || return 1
}

# write_upstreams_yaml FILE UPSTREAM_URL TOOL... registers the everything-server
# under UPSTREAM_SLUG with every object granted: each TOOL bound (no argument
# bindings: the conformance tools carry no amount, category or resource), each
# resource URI of $resources and template of $templates, and each prompt of
# $prompts (the arrays phase_gateway fills with scripts/listtools). What the
# registry does not grant the gateway hides and refuses.
write_upstreams_yaml() {
	local file=$1 upstream=$2 item
	shift 2
	{
		echo "# Written by scripts/conformance.sh: the conformance everything-server, every object granted."
		echo "version: 1"
		echo "upstreams:"
		echo "  - slug: $UPSTREAM_SLUG"
		echo "    transport: streamable-http"
		echo "    url: $upstream"
		echo "    tools:"
		for item in "$@"; do
			echo "      $item:"
			echo "        scope: $UPSTREAM_SLUG:call"
		done
		if ((${#resources[@]} + ${#templates[@]} > 0)); then
			echo "    resources:"
			for item in "${resources[@]}"; do
				echo "      - uri: $(yaml_quote "$item")"
				echo "        scope: $UPSTREAM_SLUG:call"
			done
			for item in "${templates[@]}"; do
				echo "      - template: $(yaml_quote "$item")"
				echo "        scope: $UPSTREAM_SLUG:call"
			done
		fi
		if ((${#prompts[@]} > 0)); then
			echo "    prompts:"
			for item in "${prompts[@]}"; do
				echo "      $(yaml_quote "$item"):"
				echo "        scope: $UPSTREAM_SLUG:call"
			done
		fi
	} >"$file"
}

# yaml_quote S prints S as a double-quoted YAML string.
yaml_quote() {
	local s=${1//\\/\\\\}
	printf '"%s"' "${s//\"/\\\"}"
}

legant_start_gateway() { # ADDR UPSTREAMS_FILE DATA_DIR
	start_bg "$work/gateway.log" "$legant" gateway --listen "$1" --upstreams "$2" --data-dir "$3" --admin-listen=""
}

legant_mint_token() { # GATEWAY_BASE DATA_DIR OUT_FILE
	"$legant" mint --keys "$2/keys" --issuer "$1" --user conformance-user --agent conformance-agent \
		--aud "$1/mcp/$UPSTREAM_SLUG" --scope "$UPSTREAM_SLUG:call" --ttl 1h \
		>"$3" 2>"$work/token-mint.log"
}

gateway_ran=0 gateway_passed=0 gateway_failed=0 gateway_note=""
phase_gateway() {
	if [[ "$GATEWAY_MODE" == skip ]]; then
		gateway_note="skipped (CONFORMANCE_GATEWAY=skip)"
		log "gateway phase: $gateway_note"
		return 0
	fi
	if ! legant_available; then
		gateway_note="legant gateway not built yet"
		log "gateway phase: $gateway_note"
		if [[ "$GATEWAY_MODE" == require ]]; then
			gateway_ran=1 # counted as a run that passed nothing
			tail -n 20 "$work/legant-build.log" "$work/legant-gateway-help.log" >&2 || true
		fi
		return 0
	fi
	gateway_ran=1
	log "phase 2: suite through legant gateway"
	start_everything_server everything-gateway
	local tools=()
	mapfile -t tools < <("$work/bin/listtools" -url "$upstream_url" 2>"$work/listtools.log")
	((${#tools[@]} > 0)) || {
		echo "conformance: could not list the everything-server's tools" >&2
		return 0
	}

	resources=() templates=() prompts=()
	mapfile -t resources < <("$work/bin/listtools" -url "$upstream_url" -list resources 2>>"$work/listtools.log" || true)
	mapfile -t templates < <("$work/bin/listtools" -url "$upstream_url" -list templates 2>>"$work/listtools.log" || true)
	mapfile -t prompts < <("$work/bin/listtools" -url "$upstream_url" -list prompts 2>>"$work/listtools.log" || true)

	local port data="$work/gateway-data" yaml="$work/upstreams.yaml" token="$work/token"
	port="$(free_port)"
	mkdir -p "$data"
	write_upstreams_yaml "$yaml" "$upstream_url" "${tools[@]}"
	log "upstreams file $yaml binds ${#tools[@]} tools, ${#resources[@]} resources, ${#templates[@]} templates, ${#prompts[@]} prompts"

	legant_start_gateway "127.0.0.1:$port" "$yaml" "$data"
	wait_http "http://127.0.0.1:$port/" "$last_pid" "$work/gateway.log" || {
		echo "conformance: legant gateway did not start" >&2
		return 0
	}
	if ! legant_mint_token "http://127.0.0.1:$port" "$data" "$token" || [[ ! -s "$token" ]]; then
		echo "conformance: legant token mint failed" >&2
		return 0
	fi

	start_bg "$work/bearerproxy.log" "$work/bin/bearerproxy" \
		-listen 127.0.0.1:0 -target "http://127.0.0.1:$port" -token-file "$token"
	local proxy_pid=$last_pid addr=""
	for _ in $(seq 100); do
		addr="$(head -n 1 "$work/bearerproxy.log" 2>/dev/null || true)"
		[[ "$addr" =~ ^127\.0\.0\.1:[0-9]+$ ]] && break
		kill -0 "$proxy_pid" 2>/dev/null || break
		addr=""
		sleep 0.1
	done
	[[ -n "$addr" ]] || {
		echo "conformance: bearerproxy did not start" >&2
		return 0
	}
	local url="http://$addr/mcp/$UPSTREAM_SLUG"

	local listed
	listed="$("$work/bin/listtools" -url "$url" 2>>"$work/listtools.log" | wc -l)" || true
	log "tools/list through the gateway: $listed of ${#tools[@]} tools"

	log "running: $node $suite_js server --url $url (bearer added by bearerproxy)"
	run_suite gateway "$url"
	gateway_passed=$suite_passed gateway_failed=$suite_failed
}

# compare_scenarios prints the scenarios that pass fewer checks through the gateway.
compare_scenarios() {
	[[ -f "$work/direct.scenarios" && -f "$work/gateway.scenarios" ]] || return 0
	awk 'NR == FNR { dp[$1] = $2; df[$1] = $3; next }
		{ gp[$1] = $2; gf[$1] = $3 }
		END {
			for (s in dp) if (!(s in gp) || gp[s] < dp[s] || gf[s] > 0)
				printf "  %s: direct %d passed %d failed, gateway %s\n", s, dp[s], df[s],
					(s in gp) ? gp[s] " passed " gf[s] " failed" : "not run"
		}' "$work/direct.scenarios" "$work/gateway.scenarios" | sort
}

main() {
	local t0 t
	t0=$EPOCHREALTIME
	t=$EPOCHREALTIME
	install_tools
	log "tools ready in $(elapsed "$t") (node $("$node" --version), $CONFORMANCE_PKG@$CONFORMANCE_VERSION, everything-server $GO_SDK_VERSION)"

	t=$EPOCHREALTIME
	phase_direct
	log "direct phase took $(elapsed "$t")"

	t=$EPOCHREALTIME
	phase_gateway
	log "gateway phase took $(elapsed "$t")"

	local direct_total=$((direct_passed + direct_failed)) summary status=0
	summary="direct $direct_passed/$direct_total"
	if ((gateway_ran)); then
		summary+=", gateway $gateway_passed/$direct_total"
		((gateway_failed == 0)) || summary+=" ($gateway_failed failed)"
		if ((gateway_passed < direct_passed)); then
			status=1
			echo "conformance: the gateway passes fewer checks than the upstream alone:" >&2
			compare_scenarios >&2
		fi
	else
		summary+=", gateway not run ($gateway_note)"
	fi
	((direct_ok)) || status=1
	echo "conformance: $summary (total $(elapsed "$t0"))"
	return "$status"
}

main "$@"
