# need_debs PKG...: installs the Debian packages that are missing (apt-get update
# first), its output on stderr (scripts/build-image.sh prints the image on
# stdout). Sourced by scripts/test.sh, wasm-toolchain.sh and build-image.sh.
need_debs() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        printf '\n== installing %s\n' "${missing[*]}" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    fi
}
