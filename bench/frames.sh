#!/usr/bin/env bash
# Decode + one-line summary of a TCP SYN (74 bytes) and a full-size data frame (1514
# bytes): pktlab's zero-allocation path against gopacket.NewPacket (default options,
# decoding only) and against scapy (Debian python3-scapy: Ether(bytes) then
# .summary()), on the same frames (rawsock/testdata/bench.pcap). Prints ns/frame,
# allocs/frame and the ratios. Each figure is the best of 5 runs (Go) or 3 runs
# (scapy), so that load from other processes on the machine skews it least.
#   bench/frames.sh [BENCHTIME]      (default 2s; needs no privileges)
set -euo pipefail
cd "$(dirname "$0")/.."
benchtime=${1:-2s}
py=/usr/bin/python3 # Debian's python, where python3-scapy installs
if ! "$py" -c 'import scapy' 2>/dev/null; then
  echo "frames.sh: scapy missing: apt-get install python3-scapy" >&2; exit 1
fi

# Five rounds, each running pktlab's and gopacket's benchmarks back to back, so that
# both sides of a ratio see the same load.
go test -c -o "${TMPDIR:-/tmp}/rawsock.bench.test" ./rawsock/
out=$(cd rawsock && for i in 1 2 3 4 5; do
  "${TMPDIR:-/tmp}/rawsock.bench.test" -test.run '^$' -test.bench 'DecodeSummary|GopacketNewPacket' -test.benchtime "$benchtime"
done)
rm -f "${TMPDIR:-/tmp}/rawsock.bench.test"
# field: benchmark-name -> ns/op and allocs/op
ns()     { awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {if (m == "" || $3 < m) m = $3} END {print m}' <<<"$out"; }
allocs() { awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=1;i<=NF;i++) if ($i=="allocs/op") a = $(i-1)} END {print a}' <<<"$out"; }

scapy=$("$py" - <<'PY'
import time
from scapy.all import rdpcap, Ether
frames = [bytes(p) for p in rdpcap("rawsock/testdata/bench.pcap")]
for name, raw in zip(("SYN", "Data1514"), frames):
    best = None
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 1.0:
            for _ in range(100):
                Ether(raw).summary()
            n += 100
        ns = (time.perf_counter() - t0) / n * 1e9
        best = ns if best is None else min(best, ns)
    print(name, best)
PY
)

printf '%-9s %14s %8s %14s %8s %14s %10s %10s\n' frame pktlab-ns allocs newpacket-ns allocs scapy-ns vs-gopacket vs-scapy
for f in SYN Data1514; do
  p=$(ns "BenchmarkDecodeSummary/$f"); pa=$(allocs "BenchmarkDecodeSummary/$f")
  g=$(ns "BenchmarkGopacketNewPacket/$f"); ga=$(allocs "BenchmarkGopacketNewPacket/$f")
  s=$(awk -v f="$f" '$1==f {print $2}' <<<"$scapy")
  awk -v f="$f" -v p="$p" -v pa="$pa" -v g="$g" -v ga="$ga" -v s="$s" \
    'BEGIN {printf "%-9s %14.1f %8d %14.1f %8d %14.0f %9.1fx %9.0fx\n", f, p, pa, g, ga, s, g/p, s/p}'
done
