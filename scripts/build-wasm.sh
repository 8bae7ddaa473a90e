#!/usr/bin/env bash
# Builds the wasm module and its JS glue into web/pkg (not committed) and prints
# its size, raw and gzipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/wasm-toolchain.sh
# shellcheck disable=SC1091
. target/wasm-route.env

log() { printf '[build-wasm] %s\n' "$*"; }

# RUSTFLAGS and CARGO_* from the caller pass through unchanged. getrandom 0.4
# (the only getrandom in kcerts-wasm's tree) needs just its wasm_js feature,
# which core/Cargo.toml enables for wasm32-unknown-unknown: no --cfg flag.
start=$SECONDS
case $KCERTS_WASM_ROUTE in
    rustup)
        export CARGO_TARGET_DIR=$PWD/target/wasm
        log "CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo build --profile wasm-release --target wasm32-unknown-unknown -p kcerts-wasm"
        cargo build --profile wasm-release --target wasm32-unknown-unknown -p kcerts-wasm
        ;;
    debian)
        export CARGO_TARGET_DIR=$PWD/target/wasm-debian
        # build-std is unstable: RUSTC_BOOTSTRAP=1 lets the stable Debian cargo use it.
        log "CARGO_TARGET_DIR=$CARGO_TARGET_DIR RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc" \
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=$KCERTS_WASM_LINKER /usr/bin/cargo build" \
            "--profile wasm-release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort -p kcerts-wasm"
        RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc \
            CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$KCERTS_WASM_LINKER" \
            /usr/bin/cargo build --profile wasm-release --target wasm32-unknown-unknown \
            -Zbuild-std=std,panic_abort -p kcerts-wasm
        ;;
esac
log "cargo build took $((SECONDS - start)) s (route: $KCERTS_WASM_ROUTE)"
wasm=$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/kcerts_wasm.wasm
rm -rf web/pkg
# --target no-modules: a classic script, because Chromium refuses module scripts
# from file:// (origin null) and the page must work from file:// too.
log "wasm-bindgen --target no-modules --out-dir web/pkg $wasm"
wasm-bindgen --target no-modules --no-typescript --remove-name-section --remove-producers-section \
    --out-dir web/pkg "$wasm"
out=web/pkg/kcerts_wasm_bg.wasm
# wasm-opt is not used: measured here, binaryen 132's -Oz made the module
# smaller raw (1.62 MB -> 1.37 MB) but larger gzipped (562 KB -> 588 KB), and
# Debian's binaryen 108 corrupts the externref table wasm-bindgen emits.
echo "kcerts_wasm_bg.wasm: $(stat -c %s "$out") bytes, $(gzip -9 -c "$out" | wc -c) bytes gzip (route: $KCERTS_WASM_ROUTE)"
# The CSP forbids connections (connect-src 'none'), so the page cannot fetch()
# its own .wasm: the bytes are inlined as base64 in a script instead.
{ printf 'window.KCERTS_WASM_BASE64 = "'; base64 -w0 "$out"; printf '";\n'; } > web/pkg/kcerts_wasm_inline.js
node scripts/check-wasm-node.mjs
