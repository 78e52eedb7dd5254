#!/usr/bin/env bash
# Decode + one-line summary of a TCP SYN (74 bytes) and a full-size data frame (1514
# bytes): pktlab's zero-allocation path against gopacket.NewPacket (default options,
# decoding only) and against scapy (Debian python3-scapy: Ether(bytes) then
# .summary()), on the same frames (rawsock/testdata/bench.pcap). Prints ns/frame,
# allocs/frame and the ratios.
#   bench/frames.sh [BENCHTIME]      (default 2s; needs no privileges)
set -euo pipefail
cd "$(dirname "$0")/.."
benchtime=${1:-2s}
py=/usr/bin/python3 # Debian's python, where python3-scapy installs
if ! "$py" -c 'import scapy' 2>/dev/null; then
  echo "frames.sh: scapy missing: apt-get install python3-scapy" >&2; exit 1
fi

out=$(go test -count=1 -run '^$' -bench 'DecodeSummary|GopacketNewPacket' -benchtime "$benchtime" ./rawsock/)
# field: benchmark-name -> ns/op and allocs/op
ns()     { awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {print $3}' <<<"$out"; }
allocs() { awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=1;i<=NF;i++) if ($i=="allocs/op") print $(i-1)}' <<<"$out"; }

scapy=$("$py" - <<'PY'
import time
from scapy.all import rdpcap, Ether
frames = [bytes(p) for p in rdpcap("rawsock/testdata/bench.pcap")]
for name, raw in zip(("SYN", "Data1514"), frames):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        for _ in range(100):
            Ether(raw).summary()
        n += 100
    print(name, (time.perf_counter() - t0) / n * 1e9)
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
