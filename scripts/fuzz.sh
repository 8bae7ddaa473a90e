#!/usr/bin/env bash
# Runs every cargo fuzz target of fuzz/ for a bounded time, starting from the
# committed seed corpus (fuzz/corpus/<target>/, kept read-only: new inputs go to
# a scratch dir), and prints how many executions each ran without a crash.
#
#   bash scripts/fuzz.sh                 # smoke, as scripts/test.sh runs it: 20 s a target
#   KCERTS_FUZZ_SECONDS=1800 KCERTS_FUZZ_SANITIZER=address bash scripts/fuzz.sh [TARGET...]
#                                        # the longer run: 30 min a target, AddressSanitizer
#   KCERTS_FUZZ_SEED=random bash scripts/fuzz.sh   # explore: a new libFuzzer seed each run
#
# The smoke run uses a fixed seed (KCERTS_FUZZ_SEED, default 1), so CI replays a
# prefix of the same input sequence that a longer run with that seed has already
# covered on a developer's machine: CI goes red on a change, not on the luck of the
# draw. Exploration with random seeds is a separate, longer run.
#
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script; add the
# input to fuzz/corpus/<target>/ as regression-<what> once fixed (cargo test replays it).
# Builds go to a target dir outside the checkout so later runs on this machine,
# CI's fresh clone included, only rebuild what changed (cold: ~5 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${KCERTS_FUZZ_SECONDS:-20}
san=${KCERTS_FUZZ_SANITIZER:-none}
seed=${KCERTS_FUZZ_SEED:-1}
seed_flag=(-seed="$seed")
[ "$seed" != random ] || seed_flag=()
target_dir=${KCERTS_FUZZ_TARGET_DIR:-$HOME/.cache/kcerts/fuzz-target-$san}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(cert key csr kubeconfig report roundtrip)

# libFuzzer's instrumentation needs nightly. The machines reach rustup's toolchain
# server, so a missing nightly is installed here; if that fails the stage fails with
# rustup's own error (no silent skip: a skipped fuzz stage would look like a pass).
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz: no nightly toolchain; installing it (rustup toolchain install nightly --profile minimal)"
    if ! out=$(rustup toolchain install nightly --profile minimal 2>&1); then
        printf '%s\n' "$out"
        echo "fuzz: FAILED: could not install the nightly toolchain (error above)"
        exit 1
    fi
fi
# --debug: cargo-fuzz only drives cargo; an optimised build of it is wasted minutes.
command -v cargo-fuzz >/dev/null || cargo install --debug cargo-fuzz --locked

cd fuzz
cargo +nightly fuzz build -O -s "$san" --target-dir "$target_dir"
for t in "${targets[@]}"; do
    scratch=$(mktemp -d)
    log=$scratch.log
    start=$(date +%s)
    if ! cargo +nightly fuzz run -O -s "$san" --target-dir "$target_dir" "$t" "$scratch" "corpus/$t" \
        -- "${seed_flag[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -60 "$log"
        echo "fuzz: $t FAILED (input saved in fuzz/artifacts/$t/)"
        exit 1
    fi
    runs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}')
    echo "fuzz: $t: ${runs:-?} executions in $(( $(date +%s) - start ))s without a crash ($(ls "$scratch" | wc -l) new corpus inputs, sanitizer $san, seed $seed)"
    rm -rf "$scratch" "$log"
done
