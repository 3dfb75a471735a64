#!/usr/bin/env bash
# MCP conformance harness: the official MCP conformance suites against real
# upstreams, each run once directly and once through `legant gateway`.
#
# Runs (name: suite, upstream):
#
#   go-0.1.16      @modelcontextprotocol/conformance@0.1.16, default server suite,
#                  against go-sdk's everything-server, stateful (-stateless=false)
#   go-0.2.0       @modelcontextprotocol/conformance@0.2.0-alpha.12, default (active)
#                  server suite, against the stateful everything-server
#   go-2026-07-28  0.2.0-alpha.12 with --requirements 2026-07-28 (which also runs the
#                  tasks extension scenarios, reported but not scored by the suite),
#                  against the stateless everything-server (its default mode)
#   ts-everything  0.2.0-alpha.12, default server suite, against the TypeScript
#                  @modelcontextprotocol/server-everything in streamable HTTP mode
#
# For each run: a fresh upstream and the suite against it directly; then a fresh
# upstream behind a fresh `legant gateway` whose registry binds every tool the
# upstream lists (scripts/listtools), an all-tools token, and scripts/bearerproxy in
# front (the suites cannot send headers, so the proxy adds the bearer). Each run
# prints exactly one summary line,
#
#   conformance <run>: direct P passed F failed, gateway P passed F failed
#
# and its duration. The go runs then run the suite through virtual servers
# (docs/UPSTREAMS.md, Composition), each leg a run of its own compared with the
# same direct leg, printing the same line under its own name:
#
#   <run>/virtual   the upstream as the only member of a virtual server, with the
#                   empty prefix (go-0.1.16, go-0.2.0, go-2026-07-28)
#   <run>/virtual2  two members: the upstream with the empty prefix and a second
#                   server with the prefix "second__" (go-0.2.0: the TypeScript
#                   server-everything; go-2026-07-28: a second stateless
#                   everything-server), every tool of both registered
# A run whose gateway line differs from its direct line fails
# `make conformance`, unless the run is listed in CONFORMANCE_ALLOW_DIFF; either
# way the checks that differ (scenario, check id, status, the gateway's error
# message) are printed and written to <logdir>/<run>/checks.diff (scripts/confdiff).
# The gateway's `unusable upstream event dropped` warnings are counted per run.
#
# Environment (all optional):
#   CONFORMANCE_RUNS           the runs to run, space-separated (default: all four)
#   CONFORMANCE_ALLOW_DIFF     runs whose gateway line may differ from direct, printed as
#                              KNOWN DIFFERENCE; unset or empty = none may differ
#                              (DEFAULT_ALLOW_DIFF below is empty)
#   CONFORMANCE_GATEWAY        require (default): every gateway leg must run;
#                              auto: run them when `legant gateway` builds; skip: never
#   CONFORMANCE_SUITE_TIMEOUT  seconds one suite invocation may take (default 300)
#   CONFORMANCE_KEEP           1: keep the log directory even on success
#   CONFORMANCE_VIRTUAL        0: no virtual legs (default 1: the legs above); a virtual
#                              leg is allowed to differ when its run is, or when
#                              <run>/virtual (or /virtual2) is in CONFORMANCE_ALLOW_DIFF
#   LEGANT_BIN                 a prebuilt legant binary (default: build ./cmd/legant)
#
# Tools are installed under .tools/ (gitignored) on first use: Node 22 from npm
# (scripts/node22.sh), the suites and server-everything from npm, everything-server
# with `go install`.
set -euo pipefail

readonly SUITE_OLD_VERSION="0.1.16"
readonly SUITE_NEW_VERSION="0.2.0-alpha.12"
readonly TS_EVERYTHING_PKG="@modelcontextprotocol/server-everything"
readonly TS_EVERYTHING_VERSION="2026.8.31"
readonly ALL_RUNS="go-0.1.16 go-0.2.0 go-2026-07-28 ts-everything"
# The runs whose gateway line may differ from direct by default: none (every
# run's gateway line equals its direct line since issue #13's method table).
readonly DEFAULT_ALLOW_DIFF=""
readonly RUNS="${CONFORMANCE_RUNS:-$ALL_RUNS}"
readonly ALLOW_DIFF="${CONFORMANCE_ALLOW_DIFF-$DEFAULT_ALLOW_DIFF}"
readonly GATEWAY_MODE="${CONFORMANCE_GATEWAY:-require}"
readonly SUITE_TIMEOUT="${CONFORMANCE_SUITE_TIMEOUT:-300}"
readonly UPSTREAM_SLUG="everything"
readonly DROPPED_EVENT_LOG="unusable upstream event dropped"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="$(mktemp -d "${TMPDIR:-/tmp}/legant-conformance.XXXXXX")"
# shellcheck source=lib/harness.sh
source "$root/scripts/lib/harness.sh"
mkdir -p "$work/bin"
keep_logs=0

log() { echo "conformance: $*"; }
die() {
	echo "conformance: error: $*" >&2
	exit 1
}



cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	if ((rc != 0)); then
		local f
		for f in "$work/npm-install.log" "$work/legant-build.log"; do
			[[ -s "$f" ]] || continue
			echo "----- last 40 lines of $f -----" >&2
			tail -n 40 "$f" >&2
		done
		echo "conformance: logs kept in $work" >&2
	elif ((keep_logs)) || [[ "${CONFORMANCE_KEEP:-}" == 1 ]]; then
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

# in_list WORD LIST reports whether WORD is one of the space-separated LIST.
in_list() { [[ " $2 " == *" $1 "* ]]; }

# --- tools -------------------------------------------------------------------


install_tools() {
	node="$("$root/scripts/node22.sh")"

	npm_install "$root/.tools/conformance" "$CONFORMANCE_PKG" "$SUITE_OLD_VERSION"
	npm_install "$root/.tools/conformance-0.2.0" "$CONFORMANCE_PKG" "$SUITE_NEW_VERSION"
	npm_install "$root/.tools/server-everything" "$TS_EVERYTHING_PKG" "$TS_EVERYTHING_VERSION"
	suite_old_js="$root/.tools/conformance/node_modules/$CONFORMANCE_PKG/dist/index.js"
	suite_new_js="$root/.tools/conformance-0.2.0/node_modules/$CONFORMANCE_PKG/dist/index.js"
	ts_everything_js="$root/.tools/server-everything/node_modules/$TS_EVERYTHING_PKG/dist/index.js"
	local f
	for f in "$suite_old_js" "$suite_new_js" "$ts_everything_js"; do
		[[ -f "$f" ]] || die "$f missing after install"
	done

	install_everything_server

	go build -o "$work/bin/bearerproxy" ./scripts/bearerproxy
	go build -o "$work/bin/listtools" ./scripts/listtools
	go build -o "$work/bin/confdiff" ./scripts/confdiff
}

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

# --- the runs ----------------------------------------------------------------

# run_config NAME sets, for run NAME: suite_js, suite_version and suite_args (the suite and its
# arguments besides --url and --output-dir), upstream_kind (go-stateful,
# go-stateless, ts) and direct_floor (checks the direct leg must pass at least:
# below it the harness or the upstream is broken, whatever the gateway does).
run_config() {
	case $1 in
	go-0.1.16)
		suite_js=$suite_old_js suite_version=$SUITE_OLD_VERSION suite_args=() upstream_kind=go-stateful direct_floor=40
		;;
	go-0.2.0)
		suite_js=$suite_new_js suite_version=$SUITE_NEW_VERSION suite_args=() upstream_kind=go-stateful direct_floor=73 second_kind=ts
		;;
	go-2026-07-28)
		suite_js=$suite_new_js suite_version=$SUITE_NEW_VERSION suite_args=(--requirements 2026-07-28) upstream_kind=go-stateless direct_floor=165 second_kind=go-stateless
		;;
	ts-everything)
		suite_js=$suite_new_js suite_version=$SUITE_NEW_VERSION suite_args=() upstream_kind=ts direct_floor=45
		;;
	*) die "unknown run $1 (runs: $ALL_RUNS)" ;;
	esac
}

# start_upstream KIND LOG starts a fresh upstream of KIND and sets upstream_url to
# its MCP endpoint.
start_upstream() {
	local kind=$1 logfile=$2 port
	for _ in 1 2 3; do
		port="$(free_port)"
		case $kind in
		go-stateful) start_bg "$logfile" "$everything_server" -http "127.0.0.1:$port" -stateless=false ;;
		go-stateless) start_bg "$logfile" "$everything_server" -http "127.0.0.1:$port" ;;
		# server-everything listens on $PORT on every interface; the preload binds it
		# to 127.0.0.1.
		ts) start_bg "$logfile" env PORT="$port" "$node" --require "$root/scripts/node-loopback.cjs" \
			"$ts_everything_js" streamableHttp ;;
		esac
		if wait_http "http://127.0.0.1:$port/mcp" "$last_pid" "$logfile"; then
			upstream_url="http://127.0.0.1:$port/mcp"
			upstream_pid=$last_pid
			return 0
		fi
		stop_group "$last_pid"
	done
	echo "conformance: the $kind upstream did not start (see $logfile)" >&2
	return 1
}

# run_suite DIR URL runs the configured suite against URL with its output in
# DIR/suite.log and its results in DIR/results. The suite prints one line per
# scenario ("✓ ping: 2 passed, 0 failed", ✗ when a check failed) under
# "=== SUMMARY ===" and closes with "Total: P passed, F failed" (warnings are
# neither). Sets suite_passed and suite_failed, and suite_complete to 1 when the
# suite printed its Total line (else the counts are 0).
run_suite() {
	local dir=$1 url=$2 rc=0 total
	suite_complete=0
	mkdir -p "$dir"
	timeout "$SUITE_TIMEOUT" "$node" "$suite_js" server --url "$url" "${suite_args[@]}" \
		--output-dir "$dir/results" >"$dir/suite.log" 2>&1 || rc=$?
	total="$(grep -E '^Total: [0-9]+ passed, [0-9]+ failed' "$dir/suite.log" | tail -n 1 || true)"
	if [[ -z "$total" ]]; then
		echo "conformance: no 'Total:' line in $dir/suite.log (suite exit $rc)" >&2
		tail -n 20 "$dir/suite.log" >&2
		suite_passed=0 suite_failed=0
		return 0
	fi
	suite_complete=1
	suite_passed="$(sed -E 's/^Total: ([0-9]+) passed.*/\1/' <<<"$total")"
	suite_failed="$(sed -E 's/^Total: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$total")"
}

# leg_direct RUN runs the suite against a fresh upstream; sets direct_passed/failed.
leg_direct() {
	local dir="$work/$1/direct"
	mkdir -p "$dir"
	direct_passed=0 direct_failed=0
	start_upstream "$upstream_kind" "$dir/upstream.log" || return 0
	run_suite "$dir" "$upstream_url"
	direct_passed=$suite_passed direct_failed=$suite_failed
	stop_group "$upstream_pid"
}

# write_registry FILE UPSTREAM_URL TOOL... registers the upstream under
# UPSTREAM_SLUG with every object granted: each TOOL bound (no argument
# bindings: the conformance tools carry no amount, category or resource), each
# resource URI of $resources and template of $templates, and each prompt of
# $prompts (leg_gateway fills them with scripts/listtools), and a prefix per
# URI scheme (scheme:// or scheme:) among those resources and templates plus
# test://, the scheme of the suites' fixtures: servers serve resources they do
# not list (the TypeScript server's test://watched-resource, subscribed to by
# resources-subscribe), and those pass through as directly. What the registry
# does not grant the gateway hides and refuses.
write_registry() {
	local file=$1 upstream=$2 item
	shift 2
	local -A schemes=(["test://"]=1)
	for item in "${resources[@]}" "${templates[@]}"; do
		if [[ "$item" =~ ^([A-Za-z][A-Za-z0-9+.-]*:(//)?) ]]; then
			schemes["${BASH_REMATCH[1]}"]=1
		fi
	done
	{
		echo "# Written by scripts/conformance.sh: the conformance upstream, every object granted."
		echo "version: 1"
		echo "upstreams:"
		echo "  - slug: $UPSTREAM_SLUG"
		if [[ $shape == virtual ]]; then
			echo "    members:"
			echo "      - {name: only, prefix: \"\", url: $(yaml_quote "$upstream")}"
		elif [[ $shape == virtual2 ]]; then
			echo "    members:"
			echo "      - {name: main, prefix: \"\", url: $(yaml_quote "$upstream")}"
			echo "      - {name: second, prefix: second__, url: $(yaml_quote "$second_url")}"
		else
			echo "    transport: streamable-http"
			echo "    url: $upstream"
		fi
		echo "    tools:"
		for item in "$@" "${second_tools[@]/#/second__}"; do
			echo "      $(yaml_quote "$item"):"
			echo "        scope: $UPSTREAM_SLUG:call"
		done
		echo "    resources:"
		for item in "${!schemes[@]}"; do
			echo "      - prefix: $(yaml_quote "$item")"
			echo "        scope: $UPSTREAM_SLUG:call"
		done
		if ((${#resources[@]} + ${#templates[@]} > 0)); then
			for item in "${resources[@]}"; do
				echo "      - uri: $(yaml_quote "$item")"
				echo "        scope: $UPSTREAM_SLUG:call"
			done
			for item in "${templates[@]}"; do
				echo "      - template: $(yaml_quote "$item")"
				echo "        scope: $UPSTREAM_SLUG:call"
			done
		fi
		if ((${#prompts[@]} + ${#second_prompts[@]} > 0)); then
			echo "    prompts:"
			for item in "${prompts[@]}" "${second_prompts[@]/#/second__}"; do
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

# leg_gateway RUN [SHAPE [DIR]] runs the suite through a fresh gateway in front
# of a fresh upstream, served as SHAPE: gateway (default, the plain upstream),
# virtual or virtual2 (see the top); results in DIR (default $work/RUN/gateway).
# Sets gateway_ran, gateway_complete (1: the suite ran to its end),
# gateway_passed/failed and dropped_events. The gateway's flags and `legant
# mint` are described in docs/GATEWAY.md.
leg_gateway() {
	local shape=${2:-gateway}
	local dir="${3:-$work/$1/gateway}"
	mkdir -p "$dir"
	gateway_ran=1 gateway_complete=0 gateway_passed=0 gateway_failed=0 dropped_events=0
	local second_url="" second_pid="" second_tools=() second_prompts=()
	if [[ $shape == virtual2 ]]; then
		start_upstream "$second_kind" "$dir/second.log" || return 0
		second_url=$upstream_url second_pid=$upstream_pid
		mapfile -t second_tools < <("$work/bin/listtools" -url "$second_url" 2>>"$dir/listtools.log")
		mapfile -t second_prompts < <("$work/bin/listtools" -url "$second_url" -list prompts 2>>"$dir/listtools.log" || true)
	fi
	start_upstream "$upstream_kind" "$dir/upstream.log" || return 0
	local tools=()
	mapfile -t tools < <("$work/bin/listtools" -url "$upstream_url" 2>"$dir/listtools.log")
	if ((${#tools[@]} == 0)); then
		echo "conformance: $1: could not list the upstream's tools (see $dir/listtools.log)" >&2
		return 0
	fi

	local port base data="$dir/data" registry="$dir/upstreams.yaml" token="$dir/token"
	port="$(free_port)"
	base="http://127.0.0.1:$port"
	mkdir -p "$data"
	local resources=() templates=() prompts=()
	mapfile -t resources < <("$work/bin/listtools" -url "$upstream_url" -list resources 2>>"$dir/listtools.log" || true)
	mapfile -t templates < <("$work/bin/listtools" -url "$upstream_url" -list templates 2>>"$dir/listtools.log" || true)
	mapfile -t prompts < <("$work/bin/listtools" -url "$upstream_url" -list prompts 2>>"$dir/listtools.log" || true)
	write_registry "$registry" "$upstream_url" "${tools[@]}"
	start_bg "$dir/gateway.log" "$legant" gateway --listen "127.0.0.1:$port" \
		--upstreams "$registry" --data-dir "$data" --admin-listen=""
	local gateway_pid=$last_pid
	if ! wait_http "$base/" "$gateway_pid" "$dir/gateway.log"; then
		echo "conformance: $1: legant gateway did not start" >&2
		tail -n 20 "$dir/gateway.log" >&2
		return 0
	fi
	if ! "$legant" mint --keys "$data/keys" --issuer "$base" --user conformance-user \
		--agent conformance-agent --aud "$base/mcp/$UPSTREAM_SLUG" --scope "$UPSTREAM_SLUG:call" \
		--ttl 1h >"$token" 2>"$dir/mint.log" || [[ ! -s "$token" ]]; then
		echo "conformance: $1: legant mint failed (see $dir/mint.log)" >&2
		return 0
	fi

	start_bg "$dir/bearerproxy.log" "$work/bin/bearerproxy" \
		-listen 127.0.0.1:0 -target "$base" -token-file "$token"
	local proxy_pid=$last_pid addr=""
	for _ in $(seq 100); do
		addr="$(head -n 1 "$dir/bearerproxy.log" 2>/dev/null || true)"
		[[ "$addr" =~ ^127\.0\.0\.1:[0-9]+$ ]] && break
		kill -0 "$proxy_pid" 2>/dev/null || break
		addr=""
		sleep 0.1
	done
	if [[ -z "$addr" ]]; then
		echo "conformance: $1: bearerproxy did not start (see $dir/bearerproxy.log)" >&2
		return 0
	fi
	local url="http://$addr/mcp/$UPSTREAM_SLUG" listed
	listed="$("$work/bin/listtools" -url "$url" 2>>"$dir/listtools.log" | wc -l)" || true
	log "$1: registry binds ${#tools[@]} tools; tools/list through the gateway shows $listed"

	run_suite "$dir" "$url"
	gateway_passed=$suite_passed gateway_failed=$suite_failed gateway_complete=$suite_complete
	stop_group "$proxy_pid"
	stop_group "$gateway_pid"
	stop_group "$upstream_pid"
	[[ -n "$second_pid" ]] && stop_group "$second_pid"
	dropped_events="$(grep -c -F "$DROPPED_EVENT_LOG" "$dir/gateway.log" || true)"
}

# report_diff RUN [LEG] writes the checks that differ between the direct leg and
# LEG (default gateway) to $work/RUN/LEG.diff and prints the differing scenarios
# and their checks, indented.
report_diff() {
	local run=$1 leg=${2:-gateway} name diff
	name=$(leg_name "$run" "$leg")
	diff="$work/$run/$leg.diff"
	[[ $leg == gateway ]] && diff="$work/$run/checks.diff"
	if [[ ! -d "$work/$run/direct/results" || ! -d "$work/$run/$leg/results" ]]; then
		echo "conformance $name: no per-check results to compare" >&2
		return 0
	fi
	"$work/bin/confdiff" -direct "$work/$run/direct/results" -gateway "$work/$run/$leg/results" \
		>"$diff" 2>&1 || true
	echo "conformance $name: scenarios that differ through the gateway:" \
		"$(sed -n -E 's/^scenario ([^:]+):.*/\1/p' "$diff" | tr '\n' ' ')"
	sed 's/^/    /' "$diff"
	echo "conformance $name: per-check diff in $diff"
	keep_logs=1
}

# report_compensating RUN [LEG] prints the checks that differ in a leg whose
# line matches direct (a check lost through the gateway balanced by one gained),
# without failing the run: the lines are the criterion, these are for the reader.
report_compensating() {
	local run=$1 leg=${2:-gateway} name diff
	name=$(leg_name "$run" "$leg")
	diff="$work/$run/$leg.diff"
	[[ $leg == gateway ]] && diff="$work/$run/checks.diff"
	[[ -d "$work/$run/direct/results" && -d "$work/$run/$leg/results" ]] || return 0
	if ! "$work/bin/confdiff" -direct "$work/$run/direct/results" -gateway "$work/$run/$leg/results" \
		>"$diff" 2>&1; then
		echo "conformance $name: the counts match, but these checks differ (not a failure):"
		sed 's/^/    /' "$diff"
	fi
}

# leg_name RUN LEG is the name a leg's lines carry: RUN for the gateway leg,
# RUN/LEG for a virtual one.
leg_name() {
	if [[ $2 == gateway ]]; then echo "$1"; else echo "$1/$2"; fi
}

# virtual_legs RUN prints the virtual legs of RUN (none with CONFORMANCE_VIRTUAL=0).
virtual_legs() {
	[[ "${CONFORMANCE_VIRTUAL:-1}" == 0 ]] && return 0
	case $1 in
	go-0.1.16) echo virtual ;;
	go-0.2.0 | go-2026-07-28) echo virtual virtual2 ;;
	esac
}

# judge_leg RUN LEG TIME prints the summary line of leg LEG of RUN (the gateway
# leg or a virtual one) and returns 1 when it fails: the suite did not run to its
# end, or its line differs from direct and that is not allowed.
judge_leg() {
	local run=$1 leg=$2 took=$3 name
	name=$(leg_name "$run" "$leg")
	local line="direct $direct_passed passed $direct_failed failed"
	if ((gateway_ran)); then
		line+=", gateway $gateway_passed passed $gateway_failed failed"
	else
		line+=", gateway not run ($gateway_note)"
	fi
	echo "conformance $name: $line"
	((gateway_ran)) || return 0
	echo "conformance $name: gateway dropped-event warnings $dropped_events"
	[[ $leg != gateway ]] && echo "conformance $name: took $took"
	local allowed=0
	if in_list "$name" "$ALLOW_DIFF" || in_list "$run" "$ALLOW_DIFF"; then
		allowed=1
	fi
	if ((!gateway_complete)); then
		# A broken leg is never a known difference.
		echo "conformance $name: FAILED: the gateway leg did not run the suite to its end (${gateway_note:-logs in $work/$run/$leg})" >&2
		keep_logs=1
		return 1
	elif ((gateway_passed != direct_passed || gateway_failed != direct_failed)); then
		report_diff "$run" "$leg"
		if ((allowed)); then
			echo "conformance $name: KNOWN DIFFERENCE (allowed by CONFORMANCE_ALLOW_DIFF): the gateway's line differs from direct"
		else
			echo "conformance $name: FAILED: the gateway's line differs from direct" >&2
			return 1
		fi
	else
		report_compensating "$run" "$leg"
		if ((allowed)) && in_list "$name" "$ALLOW_DIFF"; then
			echo "conformance $name: the gateway's line matches direct: remove $name from CONFORMANCE_ALLOW_DIFF"
		fi
	fi
	return 0
}

# do_run RUN runs the legs of RUN, prints their summary lines, and returns 1 when
# the run fails (a leg's line differs and is not allowed to, or the direct leg is
# below its floor).
do_run() {
	local run=$1 t0=$EPOCHREALTIME t status=0 leg
	run_config "$run"
	log "$run: $CONFORMANCE_PKG@$suite_version${suite_args[*]:+ ${suite_args[*]}} against the $upstream_kind upstream"
	t=$EPOCHREALTIME
	leg_direct "$run"
	local direct_time
	direct_time="$(elapsed "$t")"

	gateway_ran=0 gateway_complete=0 gateway_passed=0 gateway_failed=0 dropped_events=0
	gateway_note=""
	local gateway_time="-"
	if [[ "$GATEWAY_MODE" == skip ]]; then
		gateway_note="skipped (CONFORMANCE_GATEWAY=skip)"
	elif ((legant_ok)); then
		t=$EPOCHREALTIME
		leg_gateway "$run"
		gateway_time="$(elapsed "$t")"
	elif [[ "$GATEWAY_MODE" == require ]]; then
		gateway_ran=1 # counted as a leg that passed nothing
		gateway_note="legant gateway is not available (see $work/legant-build.log)"
	else
		gateway_note="legant gateway not built"
	fi
	judge_leg "$run" gateway "$gateway_time" || status=1
	echo "conformance $run: took $(elapsed "$t0") (direct $direct_time, gateway $gateway_time)"
	if ((direct_passed < direct_floor)); then
		echo "conformance $run: FAILED: the direct leg passed $direct_passed checks, want at least $direct_floor" >&2
		status=1
	fi
	if ((legant_ok)) && [[ "$GATEWAY_MODE" != skip ]]; then
		for leg in $(virtual_legs "$run"); do
			t=$EPOCHREALTIME
			leg_gateway "$run" "$leg" "$work/$run/$leg"
			judge_leg "$run" "$leg" "$(elapsed "$t")" || status=1
		done
	fi
	return "$status"
}

main() {
	local t0=$EPOCHREALTIME t run failed=()
	install_tools
	log "tools ready in $(elapsed "$t0") (node $("$node" --version), everything-server $GO_SDK_VERSION, $TS_EVERYTHING_PKG@$TS_EVERYTHING_VERSION)"
	legant_ok=0
	if [[ "$GATEWAY_MODE" != skip ]]; then
		t=$EPOCHREALTIME
		if legant_available; then
			legant_ok=1
			log "legant built in $(elapsed "$t")"
		else
			log "legant gateway not available:"
			tail -n 20 "$work/legant-build.log" "$work/legant-gateway-help.log" >&2 || true
		fi
	fi
	log "runs: $RUNS; allowed to differ: ${ALLOW_DIFF:-none}"
	for run in $RUNS; do
		do_run "$run" || failed+=("$run")
		stop_all
	done
	if ((${#failed[@]})); then
		echo "conformance: FAILED runs: ${failed[*]} (total $(elapsed "$t0"))" >&2
		return 1
	fi
	log "all runs passed (total $(elapsed "$t0"))"
}

main "$@"
