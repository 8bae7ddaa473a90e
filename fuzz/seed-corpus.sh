#!/usr/bin/env bash
# Re-makes the committed seed corpus fuzz/corpus/<target>/ from real files:
# two kubeadm-style nodes made by `kcerts generate-pki` (RSA-2048 and ECDSA-P256),
# openssl variants (DER, PKCS#8, encrypted, DSA, Ed25519, CSRs, text dumps) and the
# pyca cryptography-vectors edge cases in tests/fixtures/cryptography-vectors/.
#   bash fuzz/seed-corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p kcerts-cli
kcerts=$PWD/target/debug/kcerts
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=fuzz/corpus
mkdir -p "$out"; find "$out" -type f ! -name "regression-*" -delete
mkdir -p "$out"/{cert,key,csr,kubeconfig,report,roundtrip}
vec=tests/fixtures/cryptography-vectors

for alg in RSA-2048 ECDSA-P256; do
    n=$tmp/$alg
    "$kcerts" generate-pki --out "$n" --node-name cp-1 --advertise-address 192.168.10.11 \
        --apiserver-cert-extra-sans lb.example.com,10.0.0.10,fd00::10 --key-algorithm "$alg" \
        --at 2026-01-01T00:00:00Z >/dev/null
    (cd "$n" && find . -type f) | sort | while read -r f; do
        name=$alg-$(echo "${f#./}" | tr / _)
        case "$f" in
        *.crt) cp "$n/$f" "$out/cert/$name"; cp "$n/$f" "$out/roundtrip/$name" ;;
        *.key) cp "$n/$f" "$out/key/$name" ;;
        *.conf) cp "$n/$f" "$out/kubeconfig/$name" ;;
        esac
    done
    # Small report bundles of this node (`@@@ <name>` lines, see fuzz/src/lib.rs).
    bash fuzz/report-seeds.sh "$n" "$alg" "$out/report"
    "$kcerts" renew apiserver --csr-only --csr-dir "$tmp/csr-$alg" --cert-dir "$n/pki" --kubeconfig-dir "$n" >/dev/null
    cp "$tmp/csr-$alg/apiserver.csr" "$out/csr/$alg-apiserver.csr"
done

n=$tmp/RSA-2048
openssl x509 -in "$n/pki/apiserver.crt" -outform DER -out "$out/cert/apiserver.der"
cp "$out/cert/apiserver.der" "$out/roundtrip/apiserver.der"
openssl x509 -in "$n/pki/apiserver.crt" -text >"$out/cert/apiserver-text-dump.pem"
cat "$n/pki/apiserver.crt" "$n/pki/ca.crt" >"$out/cert/bundle.pem"
sed 's/$/\r/' "$n/pki/ca.crt" >"$out/cert/crlf.pem"
openssl pkcs8 -topk8 -nocrypt -in "$n/pki/apiserver.key" -out "$out/key/rsa-pkcs8.pem"
openssl pkcs8 -topk8 -nocrypt -in "$n/pki/apiserver.key" -outform DER -out "$out/key/rsa-pkcs8.der"
openssl pkcs8 -topk8 -nocrypt -in "$tmp/ECDSA-P256/pki/apiserver.key" -out "$out/key/ec-pkcs8.pem"
openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:x -in "$n/pki/apiserver.key" -out "$out/key/rsa-encrypted-pkcs8.pem"
openssl ec -in "$tmp/ECDSA-P256/pki/apiserver.key" -aes128 -passout pass:x -out "$out/key/ec-encrypted-legacy.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$out/key/ed25519.pem"
openssl genpkey -algorithm x25519 -out "$out/key/x25519.pem"
openssl ecparam -name secp384r1 -genkey -noout -out "$out/key/p384-sec1.pem"
openssl ecparam -name secp521r1 -genkey -noout -out "$out/key/p521-sec1.pem"
cp "$vec"/keys/Traditional_OpenSSL_Serialization-dsa.1024.pem "$out/key/dsa-traditional.pem"
openssl req -new -key "$out/key/p384-sec1.pem" -subj "/CN=front-proxy-client" \
    -addext "subjectAltName=DNS:a.example,IP:10.0.0.1" -out "$out/csr/openssl-p384.csr"
openssl req -in "$out/csr/openssl-p384.csr" -outform DER -out "$out/csr/openssl-p384.der"
kubectl config view --raw -o json --kubeconfig "$n/admin.conf" >"$out/kubeconfig/admin.json"

# Edge cases from pyca's test vectors (a few per target; the hostile test reads them all).
for f in invalid_utf8_common_name.pem malformed-san.pem negative_serial.pem v1_cert.pem \
    bigoid.pem badasn1time.pem utf8-dnsname.pem wildcard_san.pem all_supported_names.pem \
    invalid_version.pem rsa_pss_cert.pem dsa_selfsigned_ca.pem cryptography.io.chain_with_garbage.pem; do
    [ -f "$vec/x509/$f" ] && cp "$vec/x509/$f" "$out/cert/vec-$f" && cp "$vec/x509/$f" "$out/roundtrip/vec-$f"
done
for f in "$vec"/requests/*; do cp "$f" "$out/csr/vec-$(basename "$f")"; done
for f in enc-rsa-pkcs8.pem unenc-dsa-pkcs8.pem ec-invalid-private-scalar.pem ec-inconsistent-curve.pem \
    invalid-version.der rsa_pss_2048.pem wrong-pem-delimiter-rsa.pem; do
    cp "$vec/keys/$f" "$out/key/vec-$f"
done
# A billion-laughs kubeconfig (aliases nested nine deep).
{
    echo 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'
    for i in b c d e f g h i; do
        p=$(printf '%s' abcdefghi | sed "s/$i.*//" | tail -c1)
        echo "$i: &$i [*$p,*$p,*$p,*$p,*$p,*$p,*$p,*$p,*$p]"
    done
} >"$out/kubeconfig/billion-laughs.yaml"
for t in "$out"/*; do printf '%s: %s files\n' "$(basename "$t")" "$(ls "$t" | wc -l)"; done
