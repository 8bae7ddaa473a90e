#!/usr/bin/env bash
# Builds the wasm module and its JS glue into web/pkg (not committed), then the
# page's worker source and the one-file page web/dist/kcerts.html (not
# committed either; scripts/build-page.mjs), and prints their sizes.
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
# The .d.ts it writes declares the shapes the page receives (wasm/src/types.rs).
log "wasm-bindgen --target no-modules --out-dir web/pkg $wasm"
wasm-bindgen --target no-modules --remove-name-section --remove-producers-section \
    --out-dir web/pkg "$wasm"
grep -q 'interface Report' web/pkg/kcerts_wasm.d.ts \
    || { echo "web/pkg/kcerts_wasm.d.ts lacks the typescript_custom_section" >&2; exit 1; }
out=web/pkg/kcerts_wasm_bg.wasm
# wasm-opt is not used: measured here, binaryen 132's -Oz made the module
# smaller raw (1.62 MB -> 1.37 MB) but larger gzipped (562 KB -> 588 KB), and
# Debian's binaryen 108 corrupts the externref table wasm-bindgen emits.
echo "kcerts_wasm_bg.wasm: $(stat -c %s "$out") bytes, $(gzip -9 -c "$out" | wc -c) bytes gzip (route: $KCERTS_WASM_ROUTE)"
node scripts/check-wasm-node.mjs
# The CSP forbids connections (connect-src 'none'), so the page cannot fetch()
# its own .wasm: the worker source carries the bytes as base64 instead.
start=$SECONDS
node scripts/build-page.mjs
log "page built in $((SECONDS - start)) s"
