#!/usr/bin/env bash
# The JavaScript client (clients/js): checks that the server's embedded copy is current, then runs its
# Node tests and its headless-Chromium tests against a real server binary over loopback.
#
#   scripts/ci/client-js.sh [path/to/blobhub-realtime] [extra node --test arguments...]
#
# The binary: the first argument, else $BLOBHUB_REALTIME_BIN, else .build/debug/blobhub-realtime.
# Needs Node >= 20 (Debian package nodejs); the browser tests need Chromium ($CHROMIUM, else
# /usr/bin/chromium; Debian package chromium) and fail here without it unless SKIP_BROWSER=1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

BIN="${1:-${BLOBHUB_REALTIME_BIN:-.build/debug/blobhub-realtime}}"
[ $# -gt 0 ] && shift
if [ ! -x "$BIN" ]; then
  echo "client-js: no server binary at $BIN (run swift build, or pass the path)" >&2
  exit 1
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "client-js: Node $(node --version) is too old (20 or newer)" >&2
  exit 1
fi
echo "client-js: Node $(node --version), server $BIN"

tests=(clients/js/test/client.test.mjs)
if [ "${SKIP_BROWSER:-0}" = 1 ]; then
  echo "client-js: SKIP_BROWSER=1: not running the Chromium tests"
else
  chromium="${CHROMIUM:-/usr/bin/chromium}"
  if [ ! -x "$chromium" ]; then
    echo "client-js: no Chromium at $chromium (apt-get install chromium, or SKIP_BROWSER=1)" >&2
    exit 1
  fi
  export CHROMIUM="$chromium"
  tests+=(clients/js/test/browser.test.mjs)
fi

# Node 20 has a global WebSocket only with --experimental-websocket (Node 22 has it by default); the
# tests fall back to their own test-only client without it. Each test bounds its own waits; the
# per-test timeout is the backstop, and `timeout` bounds the whole run.
flags=()
if node --experimental-websocket -e '' >/dev/null 2>&1 && [ "$major" -lt 22 ]; then flags+=(--experimental-websocket); fi
BLOBHUB_REALTIME_BIN="$BIN" timeout 600 node "${flags[@]}" --test --test-timeout 120000 "${tests[@]}" "$@"
