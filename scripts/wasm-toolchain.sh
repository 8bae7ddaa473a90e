#!/usr/bin/env bash
# Makes a wasm32-unknown-unknown build of kcerts-wasm possible and installs
# wasm-bindgen-cli at exactly the version of the wasm-bindgen crate.
#
# Route "rustup": `rustup target add wasm32-unknown-unknown` (needs a toolchain
# download). Route "debian" (the tested fallback when downloads are refused):
# Debian's rustc-web, cargo-web, rust-web-src (Rust 1.96 with its std source)
# and lld-22, building std with -Zbuild-std. Force a route with
# KCERTS_WASM_ROUTE=rustup|debian. Writes the choice to target/wasm-route.env.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' wasm/Cargo.toml)
[ -n "$WASM_BINDGEN_VERSION" ] || { echo "wasm/Cargo.toml must pin wasm-bindgen with =" >&2; exit 1; }

log() { printf '[wasm-toolchain] %s\n' "$*"; }

source scripts/need-debs.sh

route=${KCERTS_WASM_ROUTE:-}
case $route in
    "" | rustup | debian) ;;
    *) echo "KCERTS_WASM_ROUTE must be rustup or debian, not '$route'" >&2; exit 1 ;;
esac
if [ -z "$route" ] || [ "$route" = rustup ]; then
    if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
        || timeout 300 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
        route=rustup
    elif [ "$route" = rustup ]; then
        echo "rustup could not add the wasm32-unknown-unknown target" >&2
        exit 1
    else
        log "rustup target add failed (no toolchain downloads here?): using Debian's rustc-web"
        route=debian
    fi
fi

if [ "$route" = debian ]; then
    need_debs rustc-web cargo-web rust-web-src lld-22
    # rustup's wasm32 target links with its own rust-lld, which rustc-web does not
    # ship (/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin has no rust-lld): lld-22
    # provides the same linker as /usr/bin/wasm-ld-22 -> /usr/lib/llvm-22/bin/wasm-ld.
    linker=$(command -v wasm-ld-22 || command -v wasm-ld || ls /usr/lib/llvm-22/bin/wasm-ld 2>/dev/null || true)
    [ -n "$linker" ] || { echo "lld-22 is installed but wasm-ld was not found" >&2; exit 1; }
    log "Debian route: $(/usr/bin/rustc --version), linker $linker"
fi

mkdir -p target
{
    echo "KCERTS_WASM_ROUTE=$route"
    [ "$route" = debian ] && echo "KCERTS_WASM_LINKER=$linker"
} > target/wasm-route.env
log "route: $route"

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    log "cargo install --debug wasm-bindgen-cli --version $WASM_BINDGEN_VERSION (takes a few minutes)"
    # Without --locked: one locked dependency version is missing from the registry.
    # --debug: the install is what a fresh machine waits for (measured on this 2-core
    # machine under a load of 5-11: 326 s, against 655 s optimised), while the
    # unoptimised tool takes 2.3 s instead of 0.6 s on our module, output identical.
    cargo install -q --debug wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
log "$(wasm-bindgen --version)"
