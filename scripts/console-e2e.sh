#!/usr/bin/env bash
# The console end to end (docs/CONSOLE.md), run by `make e2e`: builds legant
# and the test agent (scripts/console-e2e/agent), runs a slow MCP upstream and
# a real `legant gateway` process in front of it, `legant watch --json`
# against that gateway, and drives scripts/console-e2e/console.mjs in headless
# Chromium: log in, watch the agent loop's decisions arrive, Kill its session
# from the Sessions view, check the in-flight call ends with the killed error
# and the kill appears in the stream. Screenshots go to docs/images/console-*.png
# (or $CONSOLE_SHOTS). Then the watch output must hold the same decisions.
#
# Installs what is missing, as CI machines are fresh: Chromium from Debian
# (apt-get, as root) and playwright-core from npm into .tools/console-e2e
# (gitignored). CHROMIUM=/path/to/chrome overrides the browser.
set -euo pipefail

readonly PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.65.1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
shots="${CONSOLE_SHOTS:-$root/docs/images}"
work="$(mktemp -d "${TMPDIR:-/tmp}/legant-console-e2e.XXXXXX")"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

apt_install() {
	if [[ "$(id -u)" != 0 ]]; then
		echo "console-e2e: $* missing and not root: install it (apt-get install -y $*)" >&2
		exit 1
	fi
	echo "console-e2e: installing $* from Debian's packages" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	apt-get install -y -q "$@" >&2
}
[[ -x "$CHROMIUM" ]] || apt_install chromium
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
command -v curl >/dev/null 2>&1 || apt_install curl
tools="$root/.tools/console-e2e"
if [[ ! -d "$tools/node_modules/playwright-core" ]]; then
	echo "console-e2e: installing playwright-core@$PLAYWRIGHT_VERSION into $tools" >&2
	mkdir -p "$tools"
	npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION" >&2
fi

go build -o "$work/legant" ./cmd/legant
go build -o "$work/agent" ./scripts/console-e2e/agent

# The upstream: line 1 of its output is its URL.
"$work/agent" upstream >"$work/upstream.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/upstream.out" ]] && break; sleep 0.1; done
upstream_url="$(head -n1 "$work/upstream.out")"
cat >"$work/legant.yaml" <<YAML
version: 1
upstreams:
  - slug: work
    transport: streamable-http
    url: $upstream_url
    tools:
      slow:
        scope: work:run
YAML

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
admin_port="$(free_port)"
base="http://127.0.0.1:$port"
admin="http://127.0.0.1:$admin_port"
data="$work/data"
"$work/legant" gateway --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin_port" \
	--upstreams "$work/legant.yaml" --data-dir "$data" >"$work/gateway.log" 2>&1 &
gw=$!
pids+=("$gw")
for _ in $(seq 100); do
	curl -fsS "$admin/console/login" >/dev/null 2>&1 && break
	kill -0 "$gw" 2>/dev/null || { cat "$work/gateway.log" >&2; exit 1; }
	sleep 0.1
done

# `legant watch` against the gateway process, for the whole run.
"$work/legant" watch --json --kind allow,kill --admin "$admin" --admin-token-file "$data/admin-token" \
	>"$work/watch.jsonl" 2>"$work/watch.err" &
pids+=($!)

mkdir -p "$shots"
# Run from beside its node_modules, where ES module resolution finds playwright-core.
cp "$root/scripts/console-e2e/console.mjs" "$tools/console.mjs"
node "$tools/console.mjs" "$admin" "$data/admin-token" "$shots" "$work/agent" loop "$base" "$data/keys" |
	tee "$work/result.json" ||
	{ echo "--- legant gateway log:" >&2; tail -n 50 "$work/gateway.log" >&2; exit 1; }

# What the browser saw, `legant watch` printed too.
for _ in $(seq 50); do grep -q '"kind":"kill"' "$work/watch.jsonl" && break; sleep 0.1; done
allows="$(grep -c '"kind":"allow"' "$work/watch.jsonl" || true)"
kills="$(grep -c '"kind":"kill"' "$work/watch.jsonl" || true)"
if ((allows < 6 || kills < 1)); then
	echo "console-e2e: FAIL: legant watch printed $allows allow and $kills kill events:" >&2
	cat "$work/watch.jsonl" "$work/watch.err" >&2
	exit 1
fi
echo "console-e2e: legant watch (against the gateway process) printed $allows allow and $kills kill event(s)"
echo "console-e2e: ok; screenshots in $shots/console-*.png"
