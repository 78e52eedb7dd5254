#!/usr/bin/env bash
# Decode + one-line summary of a TCP SYN (74 bytes) and a full-size data frame (1514
# bytes): pktlab's zero-allocation path (rawsock.Decoder into Headers, views of
# rawsock/header, then Summarizer.AppendHeaders) against gopacket.NewPacket (default
# options, decoding only) and against scapy (Debian python3-scapy: Ether(bytes) then
# .summary()), on the same frames (rawsock/testdata/bench.pcap). Prints ns/frame,
# allocs/frame and the ratios; then the whole run path per captured copy
# (BenchmarkRunPath: TPACKET_V3 ring read, decode, summary, timeline event, in a lab
# with every end captured and on one interface, and the floor of keeping the bytes)
# against decode + summary of the same frames, and the ratios.
#
# The machine is shared, so the three run in interleaved rounds (default 5): each
# round runs pktlab's and gopacket's benchmarks back to back, then scapy for one
# second per frame, so that the three sides of a ratio see the same load. The table
# gives the best round of each side and the ratio of the bests; the lines below it the
# spread: every round's time and the ratios within each round.
#   bench/frames.sh [BENCHTIME [ROUNDS]]   (default 2s 5; needs no privileges)
set -euo pipefail
cd "$(dirname "$0")/.."
benchtime=${1:-2s}
rounds=${2:-5}
py=/usr/bin/python3 # Debian's python, where python3-scapy installs
if ! "$py" -c 'import scapy' 2>/dev/null; then
  echo "frames.sh: scapy missing: apt-get install python3-scapy" >&2; exit 1
fi

bin="${TMPDIR:-/tmp}/rawsock.bench.$$.test"
trap 'rm -f "$bin"' EXIT
go test -c -o "$bin" ./rawsock/

# scapy_round prints "scapy FRAME NS" for each frame: one second of
# Ether(raw).summary() per frame.
scapy_round() {
  "$py" - <<'PY'
import time
from scapy.all import rdpcap, Ether
frames = [bytes(p) for p in rdpcap("rawsock/testdata/bench.pcap")]
for name, raw in zip(("SYN", "Data1514"), frames):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        for _ in range(100):
            Ether(raw).summary()
        n += 100
    print("scapy", name, (time.perf_counter() - t0) / n * 1e9)
PY
}

# Lines "ROUND SIDE FRAME NS ALLOCS", SIDE one of pktlab, newpacket, scapy.
out=$(for r in $(seq "$rounds"); do
  (cd rawsock && "$bin" -test.run '^$' -test.bench 'DecodeSummary|GopacketNewPacket' -test.benchtime "$benchtime") |
    awk -v r="$r" '/^Benchmark(DecodeSummary|GopacketNewPacket)\// {
      split($1, n, "/"); sub(/-[0-9]+$/, "", n[2])
      side = (n[1] == "BenchmarkDecodeSummary") ? "pktlab" : "newpacket"
      a = ""; for (i = 1; i <= NF; i++) if ($i == "allocs/op") a = $(i-1)
      print r, side, n[2], $3, a }'
  scapy_round | awk -v r="$r" '{print r, $1, $2, $3, "-"}'
done)

printf '%-9s %10s %7s %13s %7s %10s %12s %9s\n' frame pktlab-ns allocs newpacket-ns allocs scapy-ns vs-gopacket vs-scapy
for f in SYN Data1514; do
  awk -v f="$f" '$3 == f {
      k = $2; if (!(k in best) || $4 < best[k]) best[k] = $4
      if ($5 != "-") al[k] = $5 }
    END { printf "%-9s %10.1f %7d %13.1f %7d %10.0f %11.1fx %8.0fx\n", f,
      best["pktlab"], al["pktlab"], best["newpacket"], al["newpacket"], best["scapy"],
      best["newpacket"] / best["pktlab"], best["scapy"] / best["pktlab"] }' <<<"$out"
done
echo
echo "spread over $rounds rounds (ns per round; ratios within each round):"
for f in SYN Data1514; do
  awk -v f="$f" '$3 == f { t[$1, $2] = $4; if ($1 > n) n = $1 }
    END {
      for (s = 1; s <= 3; s++) {
        side = (s == 1) ? "pktlab" : (s == 2) ? "newpacket" : "scapy"
        line = sprintf("  %-9s %-10s", f, side)
        for (r = 1; r <= n; r++) line = line sprintf(" %8.0f", t[r, side])
        print line
      }
      lo1 = lo2 = 1e18; hi1 = hi2 = 0
      for (r = 1; r <= n; r++) {
        g = t[r, "newpacket"] / t[r, "pktlab"]; s = t[r, "scapy"] / t[r, "pktlab"]
        if (g < lo1) lo1 = g; if (g > hi1) hi1 = g; if (s < lo2) lo2 = s; if (s > hi2) hi2 = s
      }
      printf "  %-9s vs-gopacket %.1fx to %.1fx, vs-scapy %.0fx to %.0fx\n", f, lo1, hi1, lo2, hi2
    }' <<<"$out"
done
echo
echo "run path per captured copy (ring read, decode, summary, timeline event) against decode + summary, best of $rounds rounds:"
echo "(lab: client-router-server, every end captured, pairing, NAT matching, a watching stream; one-end: one interface;"
echo " keep-bytes: ring read and a copy of the bytes, nothing else: the floor of any path that keeps every frame)"
for r in $(seq "$rounds"); do
  (cd rawsock && "$bin" -test.run '^$' -test.bench '^BenchmarkRunPath' -test.benchmem -test.benchtime "$benchtime") |
    awk '/^BenchmarkRunPath/ { n = $1; sub(/-[0-9]+$/, "", n); a = ""
      for (i = 1; i <= NF; i++) if ($i == "allocs/op") a = $(i-1)
      print n, $3, a }'
done | awk '{ if (!($1 in best) || $2 < best[$1]) best[$1] = $2; al[$1] = $3 }
  END { ds = best["BenchmarkRunPathDecodeSummary"]
    printf "  decode + summary %.1f ns (%d allocs)\n", ds, al["BenchmarkRunPathDecodeSummary"]
    split("lab one-end keep-bytes", v, " ")
    for (i = 1; i <= 3; i++) { k = "BenchmarkRunPath/" v[i]
      printf "  %-10s %.1f ns (%d allocs): %.2fx\n", v[i], best[k], al[k], best[k] / ds } }'
