#!/usr/bin/env bash
# Fails, listing them, when any Go file of the project is not gofmt-formatted.
# The files checked are those git would commit (tracked, or untracked and not
# ignored), except vendor/; outside a git work tree, every .go file but .tools/
# and node_modules/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	list() { git ls-files --cached --others --exclude-standard -- '*.go'; }
else
	list() { find . -name '*.go' -not -path './.tools/*' -not -path '*/node_modules/*' | sed 's|^\./||'; }
fi

files=()
while IFS= read -r f; do
	[[ "$f" == vendor/* ]] && continue
	[[ -f "$f" ]] && files+=("$f") # skip tracked files deleted from the work tree
done < <(list | sort -u)

if ((${#files[@]} == 0)); then
	echo "gofmt: no Go files"
	exit 0
fi
unformatted="$(gofmt -l "${files[@]}")"
if [[ -n "$unformatted" ]]; then
	echo "gofmt: these files need formatting (run gofmt -w on them):"
	echo "$unformatted"
	exit 1
fi
echo "gofmt: ${#files[@]} files formatted"
