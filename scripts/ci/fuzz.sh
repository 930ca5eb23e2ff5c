#!/usr/bin/env bash
# Builds the libFuzzer harness (ASan + coverage) into .build-fuzz and runs it for a bounded time
# over the committed seed corpus. Fails when libFuzzer reports a crash, a leak or an invariant trap.
#   FUZZ_SECONDS   run time (default 60)
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${FUZZ_SECONDS:-60}"
scratch=.build-fuzz
target=protocol

start=$(date +%s)
# Release: ~8x the inputs per second of a debug build (fatalError invariants stay on with -O).
swift build -c release --scratch-path "$scratch" --product blobhub-realtime-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
echo "fuzz build: $(( $(date +%s) - start )) s"

binary="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/blobhub-realtime-fuzz"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# New inputs go to a scratch directory; the committed corpus stays read-only.
mkdir -p "$work/corpus" "$work/artifacts"
set +e
# ASan prints the stack; Swift's own crash backtracer would keep the output pipe open and hang here.
SWIFT_BACKTRACE=enable=no "$binary" "$work/corpus" "Fuzz/corpus/$target" \
    -dict=Fuzz/jsonrpc.dict \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 2>&1 | tee "$work/log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ] || ls "$work/artifacts"/* >/dev/null 2>&1; then
    mkdir -p fuzz-artifacts && cp "$work/artifacts"/* fuzz-artifacts/ 2>/dev/null || true
    echo "fuzz: FAILED (status $status); reproducers in fuzz-artifacts/ — replay with: $binary fuzz-artifacts/<file>" >&2
    exit 1
fi
echo "fuzz: OK ($seconds s)"
