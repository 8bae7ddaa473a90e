#!/usr/bin/env bash
# Builds the real Kubernetes programs the tests run against, from the Go module
# proxy, and prints on stdout the directory that holds them (the tests read it
# from KCERTS_KUBE_BIN, else look at the default ~/.cache/kcerts/kube/v1.37.2).
# Everything else goes to stderr.
#
#   bash scripts/kube-binaries.sh                                # all of them
#   KCERTS_KUBE_BINARIES=kubeadm bash scripts/kube-binaries.sh   # the oracle only
#   KCERTS_KUBE_BINARIES="kubeadm kubeadm-1.34" bash scripts/kube-binaries.sh
#
# What is built, each from its own small module under tests/kube/ (go.mod and
# go.sum committed, a tools.go naming the program; no Kubernetes source is in
# this repository):
#   kubeadm kube-apiserver kube-controller-manager kube-scheduler
#                  k8s.io/kubernetes v1.37.2             (tests/kube/v1.37)
#   kubeadm-1.34   kubeadm of k8s.io/kubernetes v1.34.4  (tests/kube/v1.34)
#   etcd           go.etcd.io/etcd/server/v3 v3.7.0, the version kubeadm
#                  v1.37.2 names for its etcd image      (tests/kube/etcd)
#   etcdctl        go.etcd.io/etcd/etcdctl/v3 v3.7.1, the nearest the proxy
#                  serves (it has no v3.7.0)             (tests/kube/etcdctl)
#
# A binary is rebuilt only when its key changes: the hash of its module's
# go.mod and go.sum, the Go version and the build flags. A second run does
# nothing. Go's own caches (GOMODCACHE, GOCACHE, at their defaults unless set)
# keep a rebuild incremental. Builds run one at a time (`go build -p 2`): the
# machines have 2 cores. KCERTS_KUBE_CACHE moves the cache (default
# ~/.cache/kcerts/kube).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

log() { printf '%s\n' "$*" >&2; }

if ! command -v go >/dev/null; then
    [ -x /usr/local/go/bin/go ] && PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null || { log "kube-binaries: Go is required (go not found on PATH nor at /usr/local/go/bin/go)"; exit 1; }
# Never switch toolchains behind our back: the modules are pinned to build with
# the machine's Go (1.26).
export GOTOOLCHAIN=local CGO_ENABLED=0

KUBE_VERSION=v1.37.2
cache=${KCERTS_KUBE_CACHE:-$HOME/.cache/kcerts/kube}
out=$cache/$KUBE_VERSION
mkdir -p "$out"

# name | module directory | package | kind of version stamp
catalog() {
    cat <<'EOF'
kubeadm tests/kube/v1.37 k8s.io/kubernetes/cmd/kubeadm kube
kube-apiserver tests/kube/v1.37 k8s.io/kubernetes/cmd/kube-apiserver kube
kube-controller-manager tests/kube/v1.37 k8s.io/kubernetes/cmd/kube-controller-manager kube
kube-scheduler tests/kube/v1.37 k8s.io/kubernetes/cmd/kube-scheduler kube
kubeadm-1.34 tests/kube/v1.34 k8s.io/kubernetes/cmd/kubeadm kube
etcd tests/kube/etcd go.etcd.io/etcd/server/v3 etcd
etcdctl tests/kube/etcdctl go.etcd.io/etcd/etcdctl/v3 etcd
EOF
}
all=$(catalog | awk '{print $1}' | xargs)
wanted=${KCERTS_KUBE_BINARIES:-$all}
wanted=${wanted//,/ }
for w in $wanted; do
    catalog | awk '{print $1}' | grep -qx -- "$w" || { log "kube-binaries: unknown binary '$w' in KCERTS_KUBE_BINARIES (known: $all)"; exit 1; }
done

# One run at a time per cache (two test runs on one machine share it).
exec 9>"$cache/.lock"
flock 9

go_version=$(go env GOVERSION)
log "kube-binaries: $go_version, GOMODCACHE=$(go env GOMODCACHE), GOCACHE=$(go env GOCACHE), into $out"

# The module version a module directory requires, e.g. v1.37.2.
required() { (cd "$repo/$1" && go list -m -f '{{.Version}}' "$2"); }

# -X flags that give a Kubernetes binary its release (kubeadm refuses or warns
# about configurations against a "v0.0.0-master" version). Kubernetes' own
# release build sets the same variables (hack/lib/version.sh).
kube_ldflags() {
    local v=$1 major minor x=
    major=${v#v}; major=${major%%.*}
    minor=${v#v"$major".}; minor=${minor%%.*}
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        x+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    printf '%s' "$x"
}

downloaded=
build_one() {
    local name=$1 dir=$2 pkg=$3 kind=$4 version ldflags key keyfile start
    case $kind in
        kube) version=$(required "$dir" k8s.io/kubernetes); ldflags="-s -w$(kube_ldflags "$version")" ;;
        etcd) version=$(required "$dir" "${pkg}"); ldflags="-s -w" ;;
    esac
    local flags=(-p 2 -trimpath -ldflags "$ldflags")
    key=$( { cat "$repo/$dir/go.mod" "$repo/$dir/go.sum"; echo "$go_version $pkg ${flags[*]}"; } | sha256sum | cut -c1-16)
    keyfile=$out/.$name.key
    if [ -x "$out/$name" ] && [ "$(cat "$keyfile" 2>/dev/null)" = "$key" ]; then
        log "kube-binaries: $name $version: cached ($out/$name, key $key)"
        return
    fi
    case " $downloaded " in
        *" $dir "*) ;;
        *)
            start=$SECONDS
            (cd "$repo/$dir" && go mod download)
            log "kube-binaries: modules of $dir downloaded in $((SECONDS - start)) s"
            downloaded+=" $dir"
            ;;
    esac
    start=$SECONDS
    rm -f "$keyfile"
    (cd "$repo/$dir" && go build "${flags[@]}" -o "$out/.$name.tmp" "$pkg")
    mv -f "$out/.$name.tmp" "$out/$name"
    echo "$key" >"$keyfile"
    log "kube-binaries: $name $version: built in $((SECONDS - start)) s, $(($(stat -c %s "$out/$name") / 1000000)) MB"
}

total=$SECONDS
while read -r name dir pkg kind; do
    case " $wanted " in *" $name "*) build_one "$name" "$dir" "$pkg" "$kind" ;; esac
done < <(catalog)
log "kube-binaries: done in $((SECONDS - total)) s"
echo "$out"
