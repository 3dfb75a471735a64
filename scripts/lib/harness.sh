# Shared by the conformance scripts (scripts/conformance.sh, client-auth-conformance.sh,
# scripts/authz-conformance.sh, scripts/dpop-conformance.sh): starting and
# stopping background processes, free ports, and the tools they install under
# .tools/. Sourced, not run. The caller defines log and die (or has
# harness_init define them with its exit clean-up), and sets root (the
# repository), work (its log directory) and, before free_port or npm_install,
# node (scripts/node22.sh's Node 22); pids collects what start_bg starts, for
# the clean-up.

readonly CONFORMANCE_PKG="@modelcontextprotocol/conformance"
readonly GO_SDK_MODULE="github.com/modelcontextprotocol/go-sdk"
readonly GO_SDK_VERSION="v1.8.0"
pids=()

# stop_group PID ends the process group PID (started by start_bg): SIGTERM,
# then SIGKILL after 5 s.
stop_group() {
	local pid=$1
	kill -TERM -- "-$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 -- "-$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# stop_all ends every process group started so far.
stop_all() {
	local pid
	for pid in "${pids[@]}"; do stop_group "$pid"; done
	pids=()
}

# start_bg LOG CMD... starts CMD in the background, in a process group of its own,
# with stdout and stderr in LOG, records it for cleanup, and sets last_pid (which is
# also the process group id, so stop_group ends CMD's children too).
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

# npm_install DIR PKG VERSION installs PKG@VERSION into DIR unless it is there.
npm_install() {
	local dir=$1 pkg=$2 version=$3 have=""
	if [[ -f "$dir/node_modules/$pkg/package.json" ]]; then
		have="$("$node" -p "require('$dir/node_modules/$pkg/package.json').version")"
	fi
	[[ "$have" == "$version" ]] && return 0
	log "installing $pkg@$version into $dir"
	mkdir -p "$dir"
	npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$pkg@$version" \
		>"$work/npm-install.log" 2>&1 || die "npm install $pkg@$version failed (see $work/npm-install.log)"
}

# install_everything_server installs go-sdk's conformance everything-server
# into .tools/bin unless the right version is there; sets everything_server.
install_everything_server() {
	everything_server="$root/.tools/bin/everything-server"
	if ! go version -m "$everything_server" 2>/dev/null |
		awk -v m="$GO_SDK_MODULE" -v v="$GO_SDK_VERSION" '$1 == "mod" && $2 == m && $3 == v { ok = 1 } END { exit !ok }'; then
		log "installing everything-server from $GO_SDK_MODULE@$GO_SDK_VERSION"
		env -u GOFLAGS GOBIN="$root/.tools/bin" \
			go install "$GO_SDK_MODULE/conformance/everything-server@$GO_SDK_VERSION"
	fi
}

# harness_init NAME defines log and die (their lines start "conformance NAME")
# and the traps: on exit, what start_bg started is stopped and $work removed,
# unless the run failed or CONFORMANCE_KEEP=1 (then its path is printed).
harness_init() {
	harness_name=$1
	log() { echo "conformance $harness_name: $*"; }
	die() {
		echo "conformance $harness_name: error: $*" >&2
		exit 1
	}
	trap harness_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

harness_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	if ((rc != 0)); then
		echo "conformance $harness_name: logs kept in $work" >&2
	elif [[ "${CONFORMANCE_KEEP:-}" == 1 ]]; then
		log "logs kept in $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
