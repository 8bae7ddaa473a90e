#!/usr/bin/env bash
# Memory of `kcerts serve` over many scrapes: its resident set size (VmRSS) and
# peak (VmHWM) after start, then every 1,000 scrapes up to SCRAPES (default
# 10,000), with a re-read every INTERVAL (default 1s, so readings happen during
# the run too), and each scrape's latency as the scraper sees it (request sent to
# body read; median, 99th percentile, max). Keep-alive connection, one scraper.
# Measured, never asserted.
#
#   bash bench/serve-memory.sh
#   SCRAPES=100000 KCERTS=target/debug/kcerts bash bench/serve-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SCRAPES=${SCRAPES:-10000}
INTERVAL=${INTERVAL:-1s}

if [ -z "${KCERTS:-}" ]; then
    cargo build --release -q -p kcerts-cli
    KCERTS=$PWD/target/release/kcerts
fi
work=$(mktemp -d)
"$KCERTS" generate-pki --out "$work/node" --node-name cp-1 --advertise-address 192.168.10.11 >/dev/null
"$KCERTS" serve --listen 127.0.0.1:0 --interval "$INTERVAL" \
    --cert-dir "$work/node/pki" --kubeconfig-dir "$work/node" \
    --kubelet-client-cert "$work/node/kubelet-client-current.pem" 2>"$work/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q 'listening on' "$work/log" && break; sleep 0.1; done
addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/log")

echo "machine: $(nproc) cores, $(date -u +%F); $KCERTS; re-read every $INTERVAL"
python3 - "$addr" "$pid" "$SCRAPES" <<'PY'
import http.client, sys, time
addr, pid, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = addr.rsplit(":", 1)

def mem():
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        fields[k] = v.strip()
    return fields["VmRSS"], fields["VmHWM"]

conn = http.client.HTTPConnection(host, int(port), timeout=10)
print(f"{'scrapes':>8} {'VmRSS':>10} {'VmHWM':>10} {'bytes':>8}")
print(f"{0:>8} {mem()[0]:>10} {mem()[1]:>10}")
start = time.monotonic()
lat = []
for i in range(1, total + 1):
    t0 = time.perf_counter()
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    body = r.read()
    lat.append(time.perf_counter() - t0)
    assert r.status == 200
    if i % 1000 == 0:
        rss, hwm = mem()
        print(f"{i:>8} {rss:>10} {hwm:>10} {len(body):>8}")
took = time.monotonic() - start
print(f"{total} scrapes in {took:.1f} s ({total / took:.0f} per second)")
lat.sort()
ms = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
print(f"latency: median {ms(0.5):.3f} ms, p99 {ms(0.99):.3f} ms, max {lat[-1] * 1000:.3f} ms")
PY
grep -c 'reading [0-9]*:' "$work/log" | sed 's/^/readings during the run: /'
