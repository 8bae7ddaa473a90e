#!/usr/bin/env bash
# Side-by-side timings of kcerts against openssl (and Python's cryptography),
# printing medians and ratios. Builds release binaries first. Not part of the
# test suite: speed is measured here, never asserted in tests.
#
#   bash bench/compare.sh            # all comparisons
#   RUNS=50 bash bench/compare.sh    # more runs per command
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}

need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; }; }
need hyperfine hyperfine
need openssl openssl

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
cat > "$work/openssl-expiry.sh" <<SH
for f in $node/pki/*.crt $node/pki/etcd/*.crt; do openssl x509 -enddate -noout -in "\$f"; done
for k in $node/*.conf; do grep client-certificate-data "\$k" | awk '{print \$2}' | base64 -d | openssl x509 -enddate -noout; done
SH
hyperfine -N -w 3 -r "$RUNS" --export-json "$work/check.json" \
    "$KCERTS check-expiration --cert-dir $node/pki --kubeconfig-dir $node" \
    "bash $work/openssl-expiry.sh" >/dev/null
report "1. check-expiration, whole process (target: under 3 ms)" "$work/check.json" "kcerts check-expiration" "openssl x509 -enddate loop"

# 3. renew all with RSA-2048 vs openssl generating and signing 11 keys/certs.
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
