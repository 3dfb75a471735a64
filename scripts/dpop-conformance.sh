#!/usr/bin/env bash
# The MCP conformance suite's DPoP client scenarios (auth/dpop, auth/dpop-nonce:
# extension io.modelcontextprotocol/auth/dpop, SEP-1932, RFC 9449) of
# @modelcontextprotocol/conformance@0.2.0-alpha.12 `client`, run against
# scripts/dpop-conformance-client: go-sdk's OAuth client over sdk/dpopclient, the
# client docs/AUTHORIZATION.md describes. The suite plays the authorization server
# and the MCP server (both require DPoP; in auth/dpop-nonce both demand nonces) and
# runs the client with the server URL; everything is on 127.0.0.1.
#
# Prints one line per scenario from its checks.json,
#
#   conformance dpop-client <scenario>: P passed, F failed
#
# (every check that is not SUCCESS is listed under it). Then a negative control:
# the same client with DPoP off (DPOP_CONFORMANCE_BEARER=1, plain bearer tokens)
# must fail auth/dpop, which shows the scenarios can fail:
#
#   conformance dpop-client auth/dpop without DPoP (control): F failed, as it must
#
# Exits 1 on any failure (or a control that passes).
#
# Environment (all optional):
#   CONFORMANCE_SUITE_TIMEOUT  seconds one scenario may take (default 60)
#   CONFORMANCE_KEEP           1: keep the log directory even on success
set -euo pipefail

readonly SUITE_VERSION="0.2.0-alpha.12"
readonly SCENARIOS="auth/dpop auth/dpop-nonce"
readonly SUITE_TIMEOUT="${CONFORMANCE_SUITE_TIMEOUT:-60}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="$(mktemp -d "${TMPDIR:-/tmp}/legant-dpop-conformance.XXXXXX")"
# shellcheck source=lib/harness.sh
source "$root/scripts/lib/harness.sh"

harness_init dpop-client

# install_tools: Node 22 and the suite, as scripts/conformance.sh installs them
# (a no-op when `make conformance` already did); the client is built.
install_tools() {
	node="$("$root/scripts/node22.sh")"
	npm_install "$root/.tools/conformance-0.2.0" "$CONFORMANCE_PKG" "$SUITE_VERSION"
	suite_js="$root/.tools/conformance-0.2.0/node_modules/$CONFORMANCE_PKG/dist/index.js"
	[[ -f "$suite_js" ]] || die "$suite_js missing after install"
	client="$work/dpop-conformance-client"
	go build -o "$client" ./scripts/dpop-conformance-client || die "building the client failed"
}

# run_scenario SCENARIO OUTDIR [ENV...] runs the suite's client scenario against
# the client, results under OUTDIR.
run_scenario() {
	local scenario=$1 out=$2
	shift 2
	mkdir -p "$out"
	# The suite's exit status says pass or fail; the checks decide here.
	env "$@" timeout "$SUITE_TIMEOUT" "$node" "$suite_js" client --command "$client" \
		--scenario "$scenario" -o "$out" >>"$work/suite.log" 2>&1 || true
}

# checks_of OUTDIR SCENARIO prints the newest checks.json of SCENARIO under
# OUTDIR (one scenario per OUTDIR: auth/dpop-* also names auth/dpop-nonce-*).
checks_of() {
	find "$1/$(dirname "$2")" -maxdepth 2 -path "*/$(basename "$2")-*/checks.json" 2>/dev/null | sort | tail -n 1
}

# summarize CHECKS prints "P passed, F failed" and the checks that did not pass;
# exits 1 unless every check passed.
summarize() {
	"$node" -e '
		const checks = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		const n = s => checks.filter(c => c.status === s).length;
		let line = `${n("SUCCESS")} passed, ${n("FAILURE")} failed`;
		if (n("WARNING")) line += `, ${n("WARNING")} warnings`;
		if (n("SKIPPED")) line += `, ${n("SKIPPED")} skipped`;
		console.log(line);
		for (const c of checks) if (c.status !== "SUCCESS" && c.status !== "INFO")
			console.log(`    ${c.status} ${c.id}: ${c.errorMessage ?? c.description}`);
		process.exit(n("FAILURE") || n("SKIPPED") || n("WARNING") || !n("SUCCESS") ? 1 : 0);
	' "$1"
}

main() {
	local t0=$EPOCHREALTIME rc=0 scenario checks line
	install_tools
	for scenario in $SCENARIOS; do
		run_scenario "$scenario" "$work/results/${scenario//\//-}"
		checks="$(checks_of "$work/results/${scenario//\//-}" "$scenario")"
		if [[ -z "$checks" ]]; then
			echo "conformance dpop-client $scenario: no results (see $work/suite.log)"
			rc=1
			continue
		fi
		line="$(summarize "$checks")" || rc=1
		echo "conformance dpop-client $scenario: $line"
	done

	run_scenario auth/dpop "$work/control" DPOP_CONFORMANCE_BEARER=1
	checks="$(checks_of "$work/control" auth/dpop)"
	if [[ -z "$checks" ]]; then
		echo "conformance dpop-client auth/dpop without DPoP (control): no results (see $work/suite.log)"
		rc=1
	elif line="$(summarize "$checks")"; then
		echo "conformance dpop-client auth/dpop without DPoP (control): passed, but a bearer client must fail"
		rc=1
	else
		echo "conformance dpop-client auth/dpop without DPoP (control): ${line%%$'\n'*}, as it must"
	fi
	log "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }')"
	return "$rc"
}

main "$@"
