#!/usr/bin/env bash
# The MCP conformance suite's client authorization scenarios
# (@modelcontextprotocol/conformance@0.2.0-alpha.12 `client`, auth/*) with
# `legant gateway` as the OAuth client of the suite's server: the suite runs
# scripts/client-auth-conformance-client, which starts the gateway with the
# suite's server as an upstream of auth kind oauth, drives connect, tools/list
# and tools/call through it as a go-sdk client with a Legant delegation token,
# and plays the user's browser on the gateway's connect URL (the suite's
# authorization server approves at once). docs/AUTHORIZATION.md, Conformance.
#
# Three runs, one scenario at a time (so a gateway's start never races
# another's):
#   2025-11-25  the suite's `--suite auth` scenarios
#   2025-03-26  the two backwards-compatibility scenarios (no PRM)
#   2026-07-28  the auth scenarios the 2026-07-28 requirements name, at that
#               revision (adds resource-mismatch, offline_access, iss checks,
#               authorization-server migration, metadata issuer mismatch)
# One line per scenario from its checks.json,
#
#   conformance client-auth <run> <scenario>: P passed, F failed
#
# (checks that are not SUCCESS listed under it), then a summary. The expected
# failures are scripts/client-auth-conformance-baseline.txt; the run fails on
# a scenario that fails and is not listed, or is listed and passes. Then a
# negative control: auth/basic-cimd with a gateway that has no https public
# URL (so no Client ID Metadata Document) must not pass.
#
# Environment (all optional):
#   CONFORMANCE_SUITE_TIMEOUT  seconds one scenario may take (default 60)
#   CONFORMANCE_KEEP           1: keep the log directory even on success
#   CLIENT_AUTH_SCENARIOS      only these (space separated auth/… names)
set -euo pipefail

readonly SUITE_VERSION="0.2.0-alpha.12"
readonly SUITE_TIMEOUT="${CONFORMANCE_SUITE_TIMEOUT:-60}"
readonly AUTH_2025="auth/metadata-default auth/metadata-var1 auth/metadata-var2 auth/metadata-var3
	auth/basic-cimd auth/scope-from-www-authenticate auth/scope-from-scopes-supported
	auth/scope-omitted-when-undefined auth/scope-step-up auth/scope-retry-limit
	auth/token-endpoint-auth-basic auth/token-endpoint-auth-post auth/token-endpoint-auth-none
	auth/pre-registration"
readonly AUTH_BACKCOMPAT="auth/2025-03-26-oauth-metadata-backcompat auth/2025-03-26-oauth-endpoint-fallback"
readonly AUTH_2026="$AUTH_2025 auth/resource-mismatch auth/offline-access-scope
	auth/offline-access-not-supported auth/authorization-server-migration auth/iss-supported
	auth/iss-not-advertised auth/iss-supported-missing auth/iss-wrong-issuer auth/iss-unexpected
	auth/iss-normalized auth/metadata-issuer-mismatch"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="$(mktemp -d "${TMPDIR:-/tmp}/legant-client-auth-conformance.XXXXXX")"
# shellcheck source=lib/harness.sh
source "$root/scripts/lib/harness.sh"

harness_init client-auth

# install_tools: Node 22 and the suite (a no-op when `make conformance`
# already installed them); legant and the wrapper are built.
install_tools() {
	node="$("$root/scripts/node22.sh")"
	npm_install "$root/.tools/conformance-0.2.0" "$CONFORMANCE_PKG" "$SUITE_VERSION"
	suite_js="$root/.tools/conformance-0.2.0/node_modules/$CONFORMANCE_PKG/dist/index.js"
	[[ -f "$suite_js" ]] || die "$suite_js missing after install"
	mkdir -p "$work/bin"
	go build -o "$work/bin/legant" ./cmd/legant || die "building legant failed"
	go build -o "$work/bin/client-auth-conformance-client" ./scripts/client-auth-conformance-client ||
		die "building the client failed"
}

# run_scenario SCENARIO SPEC OUTDIR [ENV...] runs one client scenario of the
# suite at spec version SPEC against the wrapper, results under OUTDIR.
run_scenario() {
	local scenario=$1 spec=$2 out=$3
	shift 3
	mkdir -p "$out"
	# The suite's exit status says pass or fail; the checks decide here.
	env LEGANT_BIN="$work/bin/legant" "$@" timeout "$SUITE_TIMEOUT" "$node" "$suite_js" client \
		--command "$work/bin/client-auth-conformance-client" --scenario "$scenario" \
		--spec-version "$spec" -o "$out" >>"$work/suite.log" 2>&1 || true
}

# checks_of OUTDIR SCENARIO prints the newest checks.json of SCENARIO under OUTDIR.
checks_of() {
	find "$1/$(dirname "$2")" -maxdepth 2 -path "*/$(basename "$2")-*/checks.json" 2>/dev/null | sort | tail -n 1
}

# summarize CHECKS prints "P passed, F failed" and the checks that did not
# pass; exits 1 unless every check passed (a WARNING fails, as in the suite).
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
		process.exit(n("FAILURE") || n("WARNING") || !n("SUCCESS") ? 1 : 0);
	' "$1"
}

# expected_failure RUN/SCENARIO: listed in the baseline?
expected_failure() {
	grep -v '^[[:space:]]*#' "$root/scripts/client-auth-conformance-baseline.txt" | awk '{print $1}' | grep -qxF "$1"
}

main() {
	local t0=$EPOCHREALTIME rc=0 run spec scenarios scenario checks line passed=0 failed=0 expected=0 key
	install_tools
	for run in 2025-11-25 2025-03-26 2026-07-28; do
		case $run in
		2025-11-25) scenarios=$AUTH_2025 ;;
		2025-03-26) scenarios=$AUTH_BACKCOMPAT ;;
		2026-07-28) scenarios=$AUTH_2026 ;;
		esac
		for scenario in $scenarios; do
			if [[ -n "${CLIENT_AUTH_SCENARIOS:-}" ]] && [[ " $CLIENT_AUTH_SCENARIOS " != *" $scenario "* ]]; then
				continue
			fi
			key="$run/$scenario"
			run_scenario "$scenario" "$run" "$work/results/$run/${scenario//\//-}"
			checks="$(checks_of "$work/results/$run/${scenario//\//-}" "$scenario")"
			if [[ -z "$checks" ]]; then
				line="no results (see $work/suite.log)"
				false
			else
				line="$(summarize "$checks")"
			fi && ok=1 || ok=0
			if ((ok)) && expected_failure "$key"; then
				echo "conformance client-auth $run $scenario: $line — passes but is in the baseline: take it off"
				rc=1 passed=$((passed + 1))
			elif ((ok)); then
				echo "conformance client-auth $run $scenario: $line"
				passed=$((passed + 1))
			elif expected_failure "$key"; then
				echo "conformance client-auth $run $scenario: $line (expected: baseline)"
				expected=$((expected + 1))
			else
				echo "conformance client-auth $run $scenario: $line"
				rc=1 failed=$((failed + 1))
			fi
		done
	done

	if [[ -z "${CLIENT_AUTH_SCENARIOS:-}" ]]; then
		run_scenario auth/basic-cimd 2025-11-25 "$work/control" CLIENT_AUTH_CONFORMANCE_NO_CIMD=1
		checks="$(checks_of "$work/control" auth/basic-cimd)"
		if [[ -z "$checks" ]]; then
			echo "conformance client-auth auth/basic-cimd without a metadata document (control): no results (see $work/suite.log)"
			rc=1
		elif line="$(summarize "$checks")"; then
			echo "conformance client-auth auth/basic-cimd without a metadata document (control): passed, but it must not"
			rc=1
		else
			echo "conformance client-auth auth/basic-cimd without a metadata document (control): ${line%%$'\n'*}, as it must"
		fi
	fi
	log "$passed passed, $failed failed, $expected expected failures (baseline) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }')"
	return "$rc"
}

main "$@"
