#!/usr/bin/env bash
# Side-by-side timings of kcerts against openssl (and Python's cryptography),
# printing medians and ratios. Builds release binaries first. Not part of the
# test suite: speed is measured here, never asserted in tests.
#
#   bash bench/compare.sh            # all comparisons
#   RUNS=50 bash bench/compare.sh    # more runs per command
#   ROWS=4,5 bash bench/compare.sh   # only these comparisons (1-5)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
ROWS=${ROWS:-1,2,3,4,5}
row() { [[ ",$ROWS," == *",$1,"* ]]; }

need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; }; }
need hyperfine hyperfine
need openssl openssl
need /usr/bin/time time

cargo build --release -q -p kcerts-cli
KCERTS=$PWD/target/release/kcerts
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# median_ms JSON -> prints the median of the first command in milliseconds
median_ms() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%.3f" % (x["median"]*1000) for x in r))' "$1"; }

report() { # title json label-a label-b
    read -r a b <<<"$(median_ms "$2")"
    python3 - "$1" "$3" "$a" "$4" "$b" <<'PY'
import sys
title, la, a, lb, b = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], float(sys.argv[5])
print(f"{title}\n  {la:<44} median {a:10.3f} ms\n  {lb:<44} median {b:10.3f} ms\n  ratio: kcerts is {b/a:.1f}x {'faster' if b >= a else 'slower'}")
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"

# 1. check-expiration on a generated node vs openssl x509 -enddate per file.
node=$work/node
"$KCERTS" generate-pki --out "$node" --node-name cp-1 --advertise-address 192.168.10.11 >/dev/null
if row 1; then
cat > "$work/openssl-expiry.sh" <<SH
for f in $node/pki/*.crt $node/pki/etcd/*.crt; do openssl x509 -enddate -noout -in "\$f"; done
for k in $node/*.conf; do grep client-certificate-data "\$k" | awk '{print \$2}' | base64 -d | openssl x509 -enddate -noout; done
SH
hyperfine -N -w 3 -r "$RUNS" --export-json "$work/check.json" \
    "$KCERTS check-expiration --cert-dir $node/pki --kubeconfig-dir $node" \
    "bash $work/openssl-expiry.sh" >/dev/null
report "1. check-expiration, whole process (target: under 3 ms)" "$work/check.json" "kcerts check-expiration" "openssl x509 -enddate loop"
fi

# 2. One PEM bundle of 100,000 certificates: kcerts inspect --summary (streamed)
#    vs Python's cryptography and openssl. The bundle is made once and cached.
if row 2; then
bundle=${KCERTS_BUNDLE:-$HOME/.cache/kcerts/bundle-100000.pem}
if [ ! -s "$bundle" ]; then
    cargo build --release -q -p kcerts-tests --bin make-bundle
    mkdir -p "$(dirname "$bundle")"
    target/release/make-bundle 100000 >"$bundle.tmp" && mv "$bundle.tmp" "$bundle"
fi
python3 -c 'import cryptography' 2>/dev/null || need_pkg=python3-cryptography
[ -z "${need_pkg:-}" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$need_pkg"; }
cat > "$work/pyca.py" <<'PY'
import sys
from cryptography import x509
certs = x509.load_pem_x509_certificates(open(sys.argv[1], "rb").read())
for c in certs:
    c.not_valid_after_utc
PY
echo "2. bundle: $(grep -c 'BEGIN CERTIFICATE' "$bundle") certificates, $(($(stat -c %s "$bundle") / 1000000)) MB ($bundle)"
hyperfine -N -w 1 -r "$((RUNS / 6 + 3))" --export-json "$work/bundle.json" \
    "$KCERTS inspect --summary -o json $bundle" \
    "$KCERTS inspect --summary $bundle" \
    "python3 $work/pyca.py $bundle" >/dev/null
hyperfine -w 0 -r 1 --export-json "$work/bundle-openssl.json" \
    "openssl storeutl -noout -text $bundle" \
    "openssl crl2pkcs7 -nocrl -certfile $bundle | openssl pkcs7 -print_certs -noout" >/dev/null
python3 - "$work/bundle.json" "$work/bundle-openssl.json" <<'PY'
import json, sys
rows = [r for f in sys.argv[1:] for r in json.load(open(f))["results"]]
labels = ["kcerts inspect --summary -o json (JSON Lines)", "kcerts inspect --summary (text)",
          "python3 cryptography load_pem_x509_certificates", "openssl storeutl -noout -text (1 run)",
          "openssl crl2pkcs7 | pkcs7 -print_certs (1 run)"]
base = rows[0]["median"]
print("   target: at least 2x faster than cryptography, memory of one certificate")
for label, r in zip(labels, rows):
    ratio = r["median"] / base
    print(f"  {label:<48} median {r['median']*1000:10.1f} ms  ({ratio:.1f}x kcerts json)")
PY
for cmd in "$KCERTS inspect --summary -o json $bundle" "python3 $work/pyca.py $bundle"; do
    /usr/bin/time -f "  peak memory %M KiB: $(echo "$cmd" | awk '{print $1,$2,$3,$4,$5}' | sed "s|$PWD/||")" $cmd >/dev/null
done
fi

# 3. renew all with RSA-2048 vs openssl generating and signing 11 keys/certs.
if row 3; then
renew_node=$work/renew-node
cp -a "$node" "$renew_node.orig"
cat > "$work/openssl-renew.sh" <<SH
set -e
cd $work/ossl
for n in 1 2 3 4 5 6 7 8 9 10 11; do
  openssl genrsa -out k\$n.key 2048 2>/dev/null
  openssl req -new -key k\$n.key -subj "/CN=leaf\$n" -out r\$n.csr
  openssl x509 -req -in r\$n.csr -CA $node/pki/ca.crt -CAkey $node/pki/ca.key -CAcreateserial -days 365 -sha256 -out c\$n.crt 2>/dev/null
done
SH
mkdir -p "$work/ossl"
for alg in RSA-2048 ECDSA-P256; do
    hyperfine -w 1 -r "$((RUNS / 3 + 3))" --export-json "$work/renew-$alg.json" \
        --prepare "rm -rf $renew_node && cp -a $renew_node.orig $renew_node" \
        "$KCERTS renew all --key-algorithm $alg --cert-dir $renew_node/pki --kubeconfig-dir $renew_node" \
        "bash $work/openssl-renew.sh" >/dev/null
    report "3. renew all (11 certificates), $alg (target: RSA no slower than openssl; ECDSA-P256 under 50 ms)" \
        "$work/renew-$alg.json" "kcerts renew all --key-algorithm $alg" "openssl genrsa+req+x509 -req x11 (RSA-2048)"
done
fi

# 4. The real kubeadm (v1.37.2, built from the Go module proxy by
#    scripts/kube-binaries.sh, cached) on a node it made itself (RSA-2048, its
#    init phases; --rootfs chroots it into the node's directory, so the
#    machine's /etc/kubernetes is never touched): check-expiration --config and
#    renew all --config, beside kcerts on the same files with the same
#    configuration. Skipped when Go is not there.
if ! row 4 && ! row 5; then
    :
elif kube_bin=$(KCERTS_KUBE_BINARIES=kubeadm bash scripts/kube-binaries.sh); then
    KUBEADM=$kube_bin/kubeadm
    kroot=$work/kubeadm-node
    mkdir -p "$kroot"
    cat >"$kroot/kubeadm.yaml" <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 192.0.2.11
nodeRegistration:
  name: cp-1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.37.2
YAML
    for phase in "certs all" "kubeconfig all"; do
        # shellcheck disable=SC2086
        "$KUBEADM" --rootfs "$kroot" init phase $phase --config /kubeadm.yaml >/dev/null
    done
    kdirs="--cert-dir $kroot/etc/kubernetes/pki --kubeconfig-dir $kroot/etc/kubernetes"
    if row 4; then
    hyperfine -N -w 3 -r "$RUNS" --export-json "$work/kubeadm-check.json" \
        "$KCERTS check-expiration --config $kroot/kubeadm.yaml $kdirs" \
        "$KUBEADM --rootfs $kroot certs check-expiration --config /kubeadm.yaml" >/dev/null
    report "4. check-expiration --config on a kubeadm-made node" "$work/kubeadm-check.json" \
        "kcerts check-expiration --config" "kubeadm certs check-expiration --config"
    fi
    if row 5; then
    cp -a "$kroot" "$kroot.orig"
    hyperfine -w 1 -r "$((RUNS / 3 + 3))" --export-json "$work/kubeadm-renew.json" \
        --prepare "rm -rf $kroot && cp -a $kroot.orig $kroot" \
        "$KCERTS renew all --config $kroot/kubeadm.yaml $kdirs" \
        "$KUBEADM --rootfs $kroot certs renew all --config /kubeadm.yaml" >/dev/null
    report "5. renew all --config (11 certificates, RSA-2048) on a kubeadm-made node" \
        "$work/kubeadm-renew.json" "kcerts renew all --config" "kubeadm certs renew all --config"
    fi
else
    echo "4./5. kubeadm comparisons skipped: scripts/kube-binaries.sh could not build kubeadm"
fi
