#!/usr/bin/env bash
# Builds the kcerts OCI image without a container daemon: a static kcerts at
# /kcerts and nothing else (no shell, no libc), entrypoint `/kcerts serve`.
#
#   bash scripts/build-image.sh        # -> target/image/kcerts-oci:VERSION (an OCI layout)
#   skopeo copy oci:target/image/kcerts-oci:0.1.0 docker://registry.example.com/kcerts:0.1.0
#
# Its one line on stdout is the image, LAYOUT:TAG (what umoci and `skopeo
# inspect oci:...` take); what it does goes to stderr.
#
# The binary: rustup's x86_64-unknown-linux-musl target with Debian's musl-gcc
# (ring has C code) when rustup can fetch the target; otherwise glibc linked
# statically (-C target-feature=+crt-static). KCERTS_IMAGE_ROUTE=musl|glibc
# forces one. KCERTS_IMAGE_PROFILE picks the cargo profile: default `image`
# (Cargo.toml: release semantics without LTO, 16 codegen units, opt-level 2),
# which scripts/test.sh builds and tests too, so the image tested is the one
# shipped; `release` (fat LTO, one codegen unit) gives a smaller binary for a
# much longer build (docs/monitoring.md, "The image", has both measured). The
# image is assembled with Debian's umoci; nothing runs a container daemon.
set -euo pipefail
cd "$(dirname "$0")/.."

route=${KCERTS_IMAGE_ROUTE:-auto}
profile=${KCERTS_IMAGE_PROFILE:-image}
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
out=${KCERTS_IMAGE_OUT:-$target_dir/image/kcerts-oci}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

step() { printf '== %s\n' "$*" >&2; }

source scripts/need-debs.sh
need_debs umoci skopeo binutils

build() { # TARGET [RUSTFLAGS]
    local triple=$1
    step "cargo build --profile $profile --target $triple ($route)"
    # ring's C code: Debian's musl-gcc for the musl target (cc-rs would otherwise
    # try a cross compiler named x86_64-linux-musl-gcc).
    CC_x86_64_unknown_linux_musl=musl-gcc RUSTFLAGS="${2:-}" \
        cargo build -q --profile "$profile" --target "$triple" -p kcerts-cli --bin kcerts
    local dir=$profile
    [ "$profile" = dev ] && dir=debug
    bin="$target_dir/$triple/$dir/kcerts"
}

bin=
if [ "$route" = auto ] || [ "$route" = musl ]; then
    if command -v rustup >/dev/null && rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1; then
        need_debs musl-tools
        route=musl
        build x86_64-unknown-linux-musl
    elif [ "$route" = musl ]; then
        echo "error: rustup cannot add the x86_64-unknown-linux-musl target" >&2
        exit 1
    else
        step "no musl target from rustup; linking glibc statically"
    fi
fi
if [ -z "$bin" ]; then
    route=glibc
    # An explicit --target keeps crt-static away from build scripts and proc macros.
    build x86_64-unknown-linux-gnu "-C target-feature=+crt-static"
fi

# Static means no program interpreter: the image has no ld.so to offer.
if readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
    echo "error: $bin is dynamically linked" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
strip -o "$work/kcerts" "$bin"

step "assembling $out:$version with umoci"
rm -rf "$out"
mkdir -p "$(dirname "$out")"
umoci init --layout "$out" >&2
umoci new --image "$out:$version" >&2
umoci unpack --image "$out:$version" "$work/bundle" >&2
install -m 0755 "$work/kcerts" "$work/bundle/rootfs/kcerts"
umoci repack --image "$out:$version" "$work/bundle" >&2
umoci config --image "$out:$version" \
    --os linux --architecture amd64 \
    --config.entrypoint /kcerts --config.cmd serve \
    --config.exposedports 9793/tcp \
    --config.user 0:0 \
    --config.label org.opencontainers.image.title=kcerts \
    --config.label org.opencontainers.image.version="$version" \
    --config.label org.opencontainers.image.description="kcerts serve: kubeadm certificate metrics ($route static build, profile $profile)" >&2
umoci gc --layout "$out" >&2

# skopeo 1.9 names the layer by digest only: its size is the blob's.
digest=$(skopeo inspect "oci:$out:$version" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Layers"][0].split(":")[1])')
layer=$(stat -c %s "$out/blobs/sha256/$digest")
printf 'built %s:%s (%s static, profile %s, binary %s bytes, layer %s bytes compressed, layout %s bytes)\n' \
    "$out" "$version" "$route" "$profile" "$(stat -c %s "$work/kcerts")" "${layer:-?}" \
    "$(du -sb "$out" | cut -f1)" >&2
echo "$out:$version"
