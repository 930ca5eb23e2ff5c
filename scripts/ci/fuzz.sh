#!/usr/bin/env bash
# Builds the libFuzzer harness (ASan + coverage) into .build-fuzz and runs its two targets for a
# bounded time over the committed seed corpora: `protocol` (JSON parser, JSON-RPC decoder, params,
# encoder) and `session` (the connection state machine). Fails when libFuzzer reports a crash, a
# leak, a timeout or an invariant trap, or a slow input that is slow again when replayed alone.
#   FUZZ_SECONDS   total run time, split evenly between the targets (default 60)
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${FUZZ_SECONDS:-60}"
scratch=.build-fuzz
targets=(protocol session)

start=$(date +%s)
# Release: ~8x the inputs per second of a debug build (fatalError invariants stay on with -O).
swift build -c release --scratch-path "$scratch" --product blobhub-realtime-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
echo "fuzz build: $(( $(date +%s) - start )) s"

binary="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/blobhub-realtime-fuzz"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for i in "${!targets[@]}"; do
    target="${targets[$i]}"
    # Each target gets an equal share; the last one takes the rounding remainder.
    share=$(( seconds / ${#targets[@]} ))
    [ "$i" -eq $(( ${#targets[@]} - 1 )) ] && share=$(( seconds - share * (${#targets[@]} - 1) ))
    [ "$share" -ge 1 ] || share=1
    # New inputs go to a scratch directory; the committed corpus stays read-only.
    mkdir -p "$work/$target/corpus" "$work/$target/artifacts"
    echo "== fuzz target $target for $share s"
    set +e
    # ASan prints the stack; Swift's own crash backtracer would keep the output pipe open and hang here.
    # libFuzzer ignores --target=…; the harness reads it.
    SWIFT_BACKTRACE=enable=no "$binary" --target="$target" "$work/$target/corpus" "Fuzz/corpus/$target" \
        -dict=Fuzz/jsonrpc.dict \
        -max_total_time="$share" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/$target/artifacts/$target-" -print_final_stats=1 2>&1 | tee "$work/$target/log"
    status=${PIPESTATUS[0]}
    # A slow-unit report (libFuzzer exits 0) is a failure only if the input is slow again on its own: on this
    # shared machine a stalled process once had one input "take" 15 s that replays in 37 ms. Replayed under the
    # same 10 s timeout, a truly slow input fails as a timeout (non-zero status) and stays a failure.
    for slow in "$work/$target/artifacts/$target"-slow-unit-*; do
        [ -e "$slow" ] || continue
        if SWIFT_BACKTRACE=enable=no timeout 60 "$binary" --target="$target" -timeout=10 "$slow" >"$work/$target/replay.log" 2>&1; then
            echo "fuzz: $(basename "$slow") replays $(grep -o "in [0-9]* ms" "$work/$target/replay.log" | head -1): a stall of the machine, not of the input"
            rm -f "$slow"
        fi
    done
    set -e
    if [ "$status" -ne 0 ] || ls "$work/$target/artifacts"/* >/dev/null 2>&1; then
        mkdir -p fuzz-artifacts && cp "$work/$target/artifacts"/* fuzz-artifacts/ 2>/dev/null || true
        echo "fuzz: target $target FAILED (status $status); reproducers in fuzz-artifacts/ — replay with: $binary --target=$target fuzz-artifacts/<file>" >&2
        failed=1
    fi
done
[ "$failed" -eq 0 ] || exit 1
echo "fuzz: OK ($seconds s over ${targets[*]})"
