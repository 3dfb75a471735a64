#!/usr/bin/env bash
# The MCP conformance suite's authorization-server scenarios
# (@modelcontextprotocol/conformance@0.2.0-alpha.12 `authorization`) against the
# co-resident OAuth issuer of `legant gateway`, unattended (docs/AUTHORIZATION.md,
# Conformance).
#
# Setup, all on 127.0.0.1: go-sdk's everything-server as the one upstream of a
# registry (so the resource http://127.0.0.1:<port>/mcp/everything exists), a
# fresh data directory with one user (`legant users add`, password on stdin),
# `legant gateway`, and a public client registered by RFC 7591 dynamic
# registration with redirect URI http://127.0.0.1:<callback port>/callback.
#
# The suite runs both scenarios in one invocation (authorization-code-grant reads
# the metadata the first scenario fetched; run alone with --scenario it has none
# and fails). For the code grant it prints an authorization URL and waits for
# the redirect to its callback server; this script plays the user with curl and
# a cookie jar: GET the URL → /login (the form's CSRF token and return_to) →
# POST the password → the consent page → submit the consent form as a browser
# would with its defaults (hidden fields, checked boxes, selected options) and
# Approve → the issuer's redirect to the callback, which curl then requests
# (without the jar). The suite then redeems the code at the token endpoint.
#
# Prints one line per scenario from its checks.json,
#
#   conformance authorization <scenario>: P passed, F failed
#
# (warnings and skipped checks are printed too, and a skipped check counts as a
# failure: the scenario did not run). Exits 1 on any failure.
#
# Environment (all optional):
#   LEGANT_BIN                 a prebuilt legant binary (default: build ./cmd/legant)
#   CONFORMANCE_SUITE_TIMEOUT  seconds the suite may take (default 120)
#   CONFORMANCE_KEEP           1: keep the log directory even on success
set -euo pipefail

readonly SUITE_VERSION="0.2.0-alpha.12"
readonly SCENARIOS="authorization-server-metadata-endpoint authorization-code-grant"
readonly SUITE_TIMEOUT="${CONFORMANCE_SUITE_TIMEOUT:-120}"
readonly USER_NAME="conformance-user"
readonly USER_PASSWORD="conformance user password"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="$(mktemp -d "${TMPDIR:-/tmp}/legant-authz-conformance.XXXXXX")"
# shellcheck source=lib/harness.sh
source "$root/scripts/lib/harness.sh"

harness_init authorization

# wait_http URL PID LOG waits until URL answers any HTTP status, failing if PID exits.
wait_http() {
	local url=$1 pid=$2 logfile=$3 code
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || {
			tail -n 20 "$logfile" >&2
			die "process $pid ($logfile) exited before $url answered"
		}
		code="$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "$url" || true)"
		[[ "$code" != 000 ]] && return 0
		sleep 0.1
	done
	die "$url did not answer within 15s"
}

# install_tools: Node 22, the suite and everything-server, as scripts/conformance.sh
# installs them (a no-op when `make conformance` already did); legant is built.
install_tools() {
	node="$("$root/scripts/node22.sh")"
	npm_install "$root/.tools/conformance-0.2.0" "$CONFORMANCE_PKG" "$SUITE_VERSION"
	suite_js="$root/.tools/conformance-0.2.0/node_modules/$CONFORMANCE_PKG/dist/index.js"
	[[ -f "$suite_js" ]] || die "$suite_js missing after install"
	install_everything_server

	if [[ -n "${LEGANT_BIN:-}" ]]; then
		legant="$LEGANT_BIN"
	else
		legant="$work/legant"
		go build -o "$legant" ./cmd/legant
	fi
}

# start_issuer: the upstream, a user, `legant gateway`; sets base and resource.
start_issuer() {
	local up_port port data="$work/data" registry="$work/upstreams.yaml"
	up_port="$(free_port)"
	start_bg "$work/upstream.log" "$everything_server" -http "127.0.0.1:$up_port" -stateless=false
	wait_http "http://127.0.0.1:$up_port/mcp" "$last_pid" "$work/upstream.log"
	cat >"$registry" <<-EOF
		# Written by scripts/authz-conformance.sh: one upstream, so that a resource exists.
		version: 1
		upstreams:
		  - slug: everything
		    transport: streamable-http
		    url: http://127.0.0.1:$up_port/mcp
		    tools:
		      echo:
		        scope: everything:call
	EOF
	printf '%s\n' "$USER_PASSWORD" | "$legant" users add --user "$USER_NAME" --data-dir "$data" \
		>"$work/users.log" 2>&1 || die "legant users add failed (see $work/users.log)"
	port="$(free_port)"
	base="http://127.0.0.1:$port"
	resource="$base/mcp/everything"
	start_bg "$work/gateway.log" "$legant" gateway --listen "127.0.0.1:$port" \
		--upstreams "$registry" --data-dir "$data" --admin-listen=""
	gateway_pid=$last_pid
	wait_http "$base/.well-known/oauth-authorization-server" "$gateway_pid" "$work/gateway.log"
}

# register_client PORT registers a public client (PKCE only) whose redirect URI
# is the suite's callback on PORT; sets client_id.
register_client() {
	local callback="http://127.0.0.1:$1/callback"
	curl -sS -o "$work/register.json" -w '%{http_code}' "$base/oauth2/register" \
		-H 'Content-Type: application/json' \
		-d "{\"client_name\":\"MCP conformance suite\",\"redirect_uris\":[\"$callback\"],
		     \"token_endpoint_auth_method\":\"none\",\"grant_types\":[\"authorization_code\"]}" \
		>"$work/register.status"
	[[ "$(cat "$work/register.status")" == 201 ]] ||
		die "registration answered $(cat "$work/register.status"): $(cat "$work/register.json")"
	client_id="$("$node" -p "JSON.parse(require('fs').readFileSync('$work/register.json','utf8')).client_id")"
}

# form_fields FILE ACTION prints name=value, one per line, for what a browser
# submits from the form of FILE whose action is ACTION, with its defaults:
# hidden and text inputs, checked checkboxes and radios, each select's selected
# option (else its first); submit buttons are left out (the caller adds the one
# it clicks). Attribute values are HTML-unescaped.
form_fields() {
	awk -v action="$2" '
		function attr(tag, name,   s) {
			if (!match(tag, "[ \t\n]" name "=\"[^\"]*\"")) return ""
			s = substr(tag, RSTART, RLENGTH)
			sub("^[ \t\n]" name "=\"", "", s)
			return unescape(substr(s, 1, length(s) - 1))
		}
		function flag(tag, name) { return match(tag " ", "[ \t\n]" name "[ \t\n=]") > 0 }
		function unescape(s,   out, n) {
			gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s)
			out = ""
			while (match(s, /&#[0-9]+;/)) {
				n = substr(s, RSTART + 2, RLENGTH - 3) + 0
				out = out substr(s, 1, RSTART - 1) sprintf("%c", n)
				s = substr(s, RSTART + RLENGTH)
			}
			s = out s
			gsub(/&amp;/, "\\&", s)
			return s
		}
		BEGIN { RS = "<" }
		{ tag = substr($0, 1, index($0, ">") - 1) }
		tag ~ /^form[ \t\n]/ { inform = (attr(tag, "action") == action); next }
		tag ~ /^\/form/ { inform = 0; next }
		!inform { next }
		tag ~ /^input[ \t\n]/ {
			type = attr(tag, "type"); name = attr(tag, "name")
			if (name == "" || type ~ /^(submit|button|image|file|reset)$/) next
			if (type ~ /^(checkbox|radio)$/) {
				if (!flag(tag, "checked")) next
				value = flag(tag, "value") ? attr(tag, "value") : "on"
			} else value = attr(tag, "value")
			print name "=" value
			next
		}
		tag ~ /^select[ \t\n]/ { select = attr(tag, "name"); first = ""; chosen = ""; seen = 0; next }
		tag ~ /^option[ \t\n]/ && select != "" {
			if (!seen) { first = attr(tag, "value"); seen = 1 }
			if (flag(tag, "selected")) chosen = attr(tag, "value")
			next
		}
		tag ~ /^\/select/ && select != "" { print select "=" (chosen != "" ? chosen : first); select = ""; next }
	' "$1"
}

# location HEADERS prints the Location of a redirect's header dump.
location() { sed -n 's/^[Ll]ocation: //p' "$1" | tr -d '\r' | tail -n 1; }

# absolute URL prints URL resolved against $base (the issuer's pages redirect by path).
absolute() { if [[ "$1" == /* ]]; then echo "$base$1"; else echo "$1"; fi; }

# submit FILE ACTION STEP EXTRA... posts the form ACTION of FILE with its
# defaults, minus the fields named in EXTRA (name=value), plus EXTRA; the
# response goes to $work/STEP.{headers,html}.
submit() {
	local file=$1 action=$2 step=$3 field args=()
	shift 3
	local override=" " extra
	for extra in "$@"; do override+="${extra%%=*} "; done
	while IFS= read -r field; do
		[[ "$override" == *" ${field%%=*} "* ]] && continue
		args+=(--data-urlencode "$field")
	done < <(form_fields "$file" "$action")
	for extra in "$@"; do args+=(--data-urlencode "$extra"); done
	curl -sS -c "$work/jar" -b "$work/jar" -D "$work/$step.headers" -o "$work/$step.html" \
		"${args[@]}" "$(absolute "$action")"
}

# status STEP prints the HTTP status of step STEP.
status() { awk 'NR == 1 { print $2 }' "$work/$1.headers"; }

# play_user URL is the person at the browser: log in, approve the consent page
# with its defaults, and deliver the issuer's redirect to the callback.
play_user() {
	local url=$1 next
	curl -sS -c "$work/jar" -b "$work/jar" -D "$work/authorize.headers" -o "$work/authorize.html" "$url"
	[[ "$(status authorize)" == 303 || "$(status authorize)" == 302 ]] ||
		die "the authorization request answered $(status authorize), not a redirect to /login (see $work/authorize.html)"
	next="$(absolute "$(location "$work/authorize.headers")")"
	curl -sS -c "$work/jar" -b "$work/jar" -D "$work/login.headers" -o "$work/login.html" "$next"
	grep -q 'action="/login"' "$work/login.html" || die "no login form at $next (see $work/login.html)"

	submit "$work/login.html" /login login-post "username=$USER_NAME" "password=$USER_PASSWORD"
	[[ "$(status login-post)" == 303 ]] || die "the login answered $(status login-post) (see $work/login-post.html)"
	next="$(absolute "$(location "$work/login-post.headers")")"
	curl -sS -c "$work/jar" -b "$work/jar" -D "$work/consent.headers" -o "$work/consent.html" "$next"
	grep -q 'id="consent"' "$work/consent.html" || die "no consent form at $next (see $work/consent.html)"

	submit "$work/consent.html" /oauth2/authorize consent-post decision=approve
	case "$(status consent-post)" in 302 | 303) ;; *) die "the consent form answered $(status consent-post) (see $work/consent-post.html)" ;; esac
	next="$(location "$work/consent-post.headers")"
	[[ "$next" == "http://127.0.0.1:$callback_port/callback?"* ]] ||
		die "the consent redirected to $next, not to the suite's callback"
	curl -sS -o "$work/callback.html" "$next" || die "the suite's callback did not answer"
}

# report_scenarios prints a line per scenario from the suite's checks.json files
# and returns 1 when a scenario failed, was skipped, or left no results.
report_scenarios() {
	local scenario dir rc=0 line
	for scenario in $SCENARIOS; do
		dir="$(find "$work/results" -maxdepth 1 -type d -name "authorization-server-$scenario-*" | sort | tail -n 1)"
		if [[ -z "$dir" || ! -f "$dir/checks.json" ]]; then
			echo "conformance authorization $scenario: no results (see $work/suite.log)" >&2
			rc=1
			continue
		fi
		if ! line="$("$node" -e '
			const checks = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
			const n = s => checks.filter(c => c.status === s).length;
			let line = `${n("SUCCESS")} passed, ${n("FAILURE")} failed`;
			if (n("WARNING")) line += `, ${n("WARNING")} warnings`;
			if (n("SKIPPED")) line += `, ${n("SKIPPED")} skipped`;
			console.log(line);
			for (const c of checks) if (c.status !== "SUCCESS")
				console.log(`    ${c.status} ${c.id}: ${c.errorMessage ?? c.description}`);
			process.exit(n("FAILURE") || n("SKIPPED") || !n("SUCCESS") ? 1 : 0);
		' "$dir/checks.json")"; then
			rc=1
		fi
		echo "conformance authorization $scenario: $line"
	done
	return "$rc"
}

main() {
	local t0=$EPOCHREALTIME
	install_tools
	start_issuer
	callback_port="$(free_port)"
	register_client "$callback_port"
	log "issuer $base, resource $resource, client $client_id, callback port $callback_port"
	# Said on every run, never silently: the suite picks token endpoint auth method
	# `none` whenever the metadata lists it, even given --client-secret, and the issuer
	# refuses a confidential client that does not authenticate (401 invalid_client).
	log "NOT EXERCISED: confidential clients (the suite sends client_id alone whenever" \
		"the metadata lists \"none\"; docs/AUTHORIZATION.md, Conformance); the client here is public (PKCE)"

	start_bg "$work/suite.log" timeout "$SUITE_TIMEOUT" "$node" "$suite_js" authorization \
		--url "$base" --client-id "$client_id" --resource "$resource" -p "$callback_port" \
		--output-dir "$work/results"
	local suite_pid=$last_pid url=""
	for _ in $(seq 300); do
		url="$(grep -m 1 -E "^$base/oauth2/authorize\\?" "$work/suite.log" || true)"
		[[ -n "$url" ]] && grep -q '^Callback server started' "$work/suite.log" && break
		kill -0 "$suite_pid" 2>/dev/null || break
		url=""
		sleep 0.1
	done
	[[ -n "$url" ]] || { tail -n 30 "$work/suite.log" >&2; die "the suite printed no authorization URL"; }
	play_user "$url"
	local rc=0
	wait "$suite_pid" || rc=$?
	log "suite exit status $rc (took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }'))"
	if ! report_scenarios; then
		echo "conformance authorization: FAILED" >&2
		return 1
	fi
	((rc == 0)) || die "the suite exited $rc although every scenario passed (see $work/suite.log)"
}

main "$@"
