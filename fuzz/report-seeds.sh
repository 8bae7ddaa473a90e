#!/usr/bin/env bash
# Writes the `report` target's seed bundles for one node made by `kcerts generate-pki`
# (called by fuzz/seed-corpus.sh; also runs alone on any such node directory):
#   bash fuzz/report-seeds.sh NODE_DIR PREFIX OUT_DIR
# A bundle is files joined with `@@@ <name>` lines (see fuzz/src/lib.rs). Each seed
# holds a few files, not a whole node: every execution pays for each private key it
# parses and each signature it checks (all of it under coverage instrumentation), and
# whole nodes (25 files, 20 to 59 KB) held the target to ~60 executions a second.
# Together the seeds still name every file of a node, so every row of the report
# is reached; whole nodes are the e2e tests' business.
set -euo pipefail
node=$1 prefix=$2 out=$3
mkdir -p "$out"
# bundle NAME FILE... ; a FILE written NAME=SOURCE puts SOURCE's bytes under NAME,
# NAME=!unreadable marks NAME present but unreadable (last in a bundle: the marker
# must end its file, and the next `@@@` must start a line).
bundle() {
    local seed=$1
    shift
    for f in "$@"; do
        local name=${f%%=*} src=${f#*=}
        printf '@@@ %s\n' "$name"
        if [ "$src" = '!unreadable' ]; then printf '!unreadable'; else cat "$node/$src"; fi
    done >"$out/$prefix-$seed"
}
bundle ca pki/ca.crt pki/ca.key
bundle sa pki/sa.key
for leaf in apiserver apiserver-kubelet-client; do
    bundle "$leaf" pki/ca.crt pki/ca.key "pki/$leaf.crt" "pki/$leaf.key"
done
bundle apiserver-etcd-client pki/etcd/ca.crt pki/etcd/ca.key pki/apiserver-etcd-client.crt pki/apiserver-etcd-client.key
bundle front-proxy-client pki/front-proxy-ca.crt pki/front-proxy-ca.key pki/front-proxy-client.crt pki/front-proxy-client.key
for leaf in server peer healthcheck-client; do
    bundle "etcd-$leaf" pki/etcd/ca.crt pki/etcd/ca.key "pki/etcd/$leaf.crt" "pki/etcd/$leaf.key"
done
for conf in admin super-admin controller-manager scheduler kubelet; do bundle "$conf.conf" pki/ca.crt "$conf.conf"; done
# An external CA (certificate without its key), an unreadable file, a key that is not
# the certificate's.
bundle external-front-proxy-ca pki/front-proxy-ca.crt pki/front-proxy-client.crt pki/front-proxy-client.key
bundle unreadable pki/ca.crt pki/ca.key pki/apiserver.key 'pki/apiserver.crt=!unreadable'
bundle wrong-key pki/ca.crt pki/apiserver.crt pki/apiserver.key=pki/front-proxy-client.key
