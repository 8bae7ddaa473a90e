#!/usr/bin/env bash
# The one command that runs every test (README, .ci/run). It installs what is
# missing first, so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's elapsed time is kept and printed as a table at the end (also when
# a step fails), so a CI log shows where a run's minutes went.
stage=
stage_start=$SECONDS
stages=()
end_stage() {
    [ -n "$stage" ] && stages+=("$(printf '%6d s  %s' $((SECONDS - stage_start)) "$stage")")
    stage=
}
step() {
    end_stage
    stage=$*
    stage_start=$SECONDS
    printf '\n== %s\n' "$*"
}
summary() {
    local rc=$?
    end_stage
    printf '\n== time per step (%s)\n' "$([ $rc = 0 ] && echo passed || echo "failed, exit $rc")"
    printf '%s\n' "${stages[@]}"
    printf '%6d s  in all\n' "$SECONDS"
}
trap summary EXIT

step "what the tests call: Debian packages, Python modules"

# Debian packages the tests call (openssl for cross-checks). kubectl 1.32 is on
# the machine image already (/usr/bin/kubectl); Debian's kubernetes-client
# conflicts with it, so it is never installed here.
source scripts/need-debs.sh

# time: /usr/bin/time measures the peak memory of `inspect --summary` in its test.
# prometheus: its promtool runs the alert rule tests (tests/tests/e2e/deploy.rs);
# the server it also installs is never started.
need_debs openssl time prometheus
# curl: the control-plane tests ask the controller-manager and scheduler for /healthz.
# util-linux (unshare, nsenter, setpriv) and iproute2 (ip) make and enter the
# clusters' network namespaces.
need_debs curl util-linux iproute2
# The prometheus output tests parse with Python's prometheus_client, the fleet
# test reads -o yaml with PyYAML, and the
# manifest test validates with kubernetes-validate (its schemas ship in the
# package, nothing is fetched at test time). Installed here, downloads cached
# under ~/.cache/kcerts/pip; the tests still pip-install a missing one when run
# without this script.
command -v python3 >/dev/null || need_debs python3 python3-pip
need_pips() {
    local missing=()
    while [ $# -gt 0 ]; do
        python3 -c "import $1" 2>/dev/null || missing+=("$2")
        shift 2
    done
    if [ ${#missing[@]} -gt 0 ]; then
        step "pip installing ${missing[*]}"
        local pip=(python3 -m pip install -q --disable-pip-version-check
            --cache-dir "$HOME/.cache/kcerts/pip" "${missing[@]}")
        # Debian's own python refuses pip installs without the flag (PEP 668).
        "${pip[@]}" || "${pip[@]}" --break-system-packages
    fi
}
need_pips prometheus_client.parser prometheus_client kubernetes_validate kubernetes-validate \
    yaml PyYAML
command -v kubectl >/dev/null || { echo "kubectl is required (expected at /usr/bin/kubectl)" >&2; exit 1; }

export INSTA_UPDATE=no CARGO_TERM_COLOR=never

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (native)"
cargo clippy --workspace --all-targets -- -D warnings

# The real Kubernetes programs, built from the Go module proxy (cached; a second
# run takes seconds); the tests find them through KCERTS_KUBE_BIN. All seven by
# default: the oracle tests run the two kubeadms, the control-plane tests
# (control_plane::, tests/src/real_cluster.rs) run kubeadm, etcd, etcdctl,
# kube-apiserver, kube-controller-manager and kube-scheduler. A cold build of
# them all is long (CONTRIBUTING.md has the times); KCERTS_KUBE_BINARIES="kubeadm
# kubeadm-1.34" builds only the oracle's, and the control-plane tests then skip.
step "Kubernetes programs from the Go module proxy (scripts/kube-binaries.sh)"
KCERTS_KUBE_BIN=$(bash scripts/kube-binaries.sh)
export KCERTS_KUBE_BIN

step "cargo test"
cargo test --workspace

# --- further stages ---

# The OCI image (scripts/build-image.sh: a static musl kcerts, umoci, no container
# daemon) and its test, which cargo test skips without the image: skopeo inspect,
# umoci unpack, the binary under chroot serving metrics. The image is built with
# the `image` cargo profile (release without LTO, 16 codegen units, opt-level 2),
# the one build-image.sh ships by default, so the image tested is the image
# shipped; a fresh machine compiles every dependency once more for the musl
# target (figures for both profiles in docs/monitoring.md, "The image").
# KCERTS_IMAGE_TEST=0 skips the stage.
if [ "${KCERTS_IMAGE_TEST:-1}" != 0 ]; then
    step "OCI image: scripts/build-image.sh, then the image test"
    image_start=$SECONDS
    image=$(bash scripts/build-image.sh)
    echo "image built in $((SECONDS - image_start)) s"
    KCERTS_IMAGE=$image cargo test -p kcerts-tests --test e2e -- --ignored --exact \
        image::image_holds_only_a_static_kcerts_that_serves_metrics
    echo "image stage: $((SECONDS - image_start)) s"
else
    step "OCI image: skipped (KCERTS_IMAGE_TEST=0)"
fi

step "fuzz smoke: every cargo fuzz target for 20 s from the seed corpus (scripts/fuzz.sh)"
bash scripts/fuzz.sh

step "wasm module via Debian's rustc-web + build-std (the fallback route, tested)"
KCERTS_WASM_ROUTE=debian bash scripts/build-wasm.sh

step "wasm module via rustup's wasm32 target (used by the browser tests)"
bash scripts/build-wasm.sh

step "web page in headless Chromium (playwright-core)"
need_debs chromium
command -v node >/dev/null || need_debs nodejs npm
(cd web && npm ci --no-audit --no-fund --silent)
# make-bundle (next to kcerts) gives the paged-table test its 1,201 certificates;
# make-cluster the multi-node test its three joined nodes.
cargo build -q -p kcerts-cli -p kcerts-tests --bin kcerts --bin make-bundle --bin make-cluster
KCERTS_BIN=${CARGO_TARGET_DIR:-$PWD/target}/debug/kcerts node --test web/tests/
