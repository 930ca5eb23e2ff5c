#!/usr/bin/env bash
# Installs the Python client (clients/python) into a throwaway virtualenv, type-checks it, and runs
# its tests against a real server binary over loopback.
#
#   scripts/ci/client-python.sh [path/to/blobhub-realtime] [extra pytest arguments...]
#
# The binary: the first argument, else $BLOBHUB_REALTIME_BIN, else .build/debug/blobhub-realtime.
# $PYTHON picks the interpreter (default python3, 3.10 or newer); SKIP_MYPY=1 skips the type check.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

BIN="${1:-${BLOBHUB_REALTIME_BIN:-.build/debug/blobhub-realtime}}"
[ $# -gt 0 ] && shift
if [ ! -x "$BIN" ]; then
  echo "client-python: no server binary at $BIN (run swift build, or pass the path)" >&2
  exit 1
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
PYTHON="${PYTHON:-python3}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/client-python.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Build from a copy so that the wheel build leaves nothing (build/, *.egg-info) in the work tree.
mkdir "$WORK/src"
tar -C clients/python --exclude=__pycache__ --exclude='*.egg-info' --exclude=build --exclude=.venv \
  --exclude=.pytest_cache --exclude=.mypy_cache -cf - pyproject.toml README.md src | tar -C "$WORK/src" -xf -

"$PYTHON" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${PIP[@]}" install "$WORK/src" "pytest>=8" "pytest-asyncio>=0.23" "pytest-timeout>=2"
"$WORK/venv/bin/python" -c 'import blobhub_realtime, sys; print("client-python: blobhub_realtime", blobhub_realtime.__version__, "on Python", sys.version.split()[0])'

if [ "${SKIP_MYPY:-0}" != 1 ]; then
  "${PIP[@]}" install "mypy>=1.8"
  # Checks the installed package (py.typed) as a user of it would see it.
  (cd "$WORK" && "$WORK/venv/bin/python" -m mypy --strict --no-incremental -p blobhub_realtime)
fi

# The tests import the installed package (src/ is not on the path), not the source tree.
cd clients/python
BLOBHUB_REALTIME_BIN="$BIN" PYTHONDONTWRITEBYTECODE=1 \
  "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider --timeout 60 tests "$@"
