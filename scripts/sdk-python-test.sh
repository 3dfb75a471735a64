#!/bin/sh
# Runs the Python SDK's tests (sdk/python) with Debian's python3 and Debian's
# packages only (CI has no other package index): installs what is missing,
# then runs pytest; exits non-zero when a test fails. The middleware tests
# build and run `legant` (cmd/legant), so Go must be on PATH.
set -eu
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
PKGS="python3 python3-jwt python3-cryptography python3-pytest python3-flask python3-fastapi python3-starlette python3-uvicorn tzdata"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "sdk-python-test: installing$missing"
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

cd sdk/python
PYTHONDONTWRITEBYTECODE=1 exec "$PY" -m pytest -p no:cacheprovider -q "$@"
