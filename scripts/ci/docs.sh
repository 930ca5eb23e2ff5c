#!/usr/bin/env bash
# Keeps docs/ and the API descriptions true against a real server (issue 8):
#   1. every `example:` block of docs/clients.md runs (curl in bash, Python, browser JavaScript in
#      headless Chromium, the Swift example compiled as the blobhub-realtime-example target);
#   2. the captured WebSocket messages of a test session validate against asyncapi.yaml;
#   3. schemathesis checks the HTTP API against openapi.yaml (every response matches the schema).
# Exits non-zero on any failure. Needs python3 (venv, pip reaching PyPI), chromium, curl, swift.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"

VENV=.build-docs-venv
if ! "$VENV/bin/python" -c "import websockets, schemathesis, jsonschema, yaml, openapi_spec_validator" 2>/dev/null; then
  python3 -m venv "$VENV" || { echo "docs.sh: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$VENV/bin/pip" install -q "websockets>=14" "schemathesis>=4,<5" jsonschema pyyaml openapi-spec-validator
fi

# The Python client package (docs/clients.md examples), from a copy so the build leaves nothing in the tree.
PKG="$(mktemp -d)"; trap 'rm -rf "$PKG"' EXIT
tar -C clients/python --exclude=__pycache__ --exclude='*.egg-info' --exclude=build -cf - pyproject.toml README.md src | tar -C "$PKG" -xf -
"$VENV/bin/pip" install -q --force-reinstall --no-deps "$PKG"

swift build
BIN="$(swift build --show-bin-path)"

# The harness starts (and restarts) the server itself: --store sqlite in a temporary directory, so a
# restart keeps the log and the client examples must resume across it.
timeout 600 "$VENV/bin/python" scripts/ci/docs_check.py --bin "$BIN" --venv "$VENV" "$@"
