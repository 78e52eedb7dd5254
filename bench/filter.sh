#!/usr/bin/env bash
# Capture filters: pktlab's pure-Go compiler (rawsock/capfilter) against tcpdump's
# (libpcap). Prints, per typical expression:
#   - program length, instructions executed on the frame (machine-independent),
#     and x/net/bpf VM time per frame, pktlab's program vs tcpdump's
#     program for the same expression (from tcpdump -ddd), on a TCP SYN and a
#     1514-byte data frame, with the ratio tcpdump/pktlab (>1: pktlab faster);
#   - compile time: pktlab's Compile in process vs one `tcpdump -ddd` run (which
#     includes starting the process, so the ratio says what a user waits for, not
#     which compiler is faster).
#   bench/filter.sh [BENCHTIME]      e.g. bench/filter.sh 2s
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tcpdump >/dev/null || { echo "bench/filter.sh: tcpdump is not installed (apt-get install tcpdump)" >&2; exit 1; }
benchtime=${1:-1s}
out=$(go test -run '^$' -bench 'BenchmarkMatch|BenchmarkCompile' -benchtime "$benchtime" -count=1 ./rawsock/capfilter)

echo "== VM time per frame (x/net/bpf), pktlab program vs tcpdump program"
printf '%-16s %-14s %6s %6s %6s %6s %10s %10s %7s\n' expression frame insns tcpd exec tcpd pktlab-ns tcpdump-ns ratio
echo "$out" | awk '
  /^BenchmarkMatch\// {
    split($1, p, "/"); who = p[4]; sub(/-[0-9]+$/, "", who); key = p[2] " " p[3]
    for (i = 2; i <= NF; i++) { if ($(i) == "ns/op") ns = $(i-1); if ($(i) == "insns") ins = $(i-1); if ($(i) == "executed") ex = $(i-1) }
    t[key, who] = ns; n[key, who] = ins; e[key, who] = ex; if (!(key in seen)) { seen[key] = 1; order[++k] = key }
  }
  END {
    for (j = 1; j <= k; j++) { key = order[j]; split(key, kk, " ")
      printf "%-16s %-14s %6d %6d %6d %6d %10.1f %10.1f %6.2fx\n", kk[1], kk[2], n[key, "pktlab"], n[key, "tcpdump"], e[key, "pktlab"], e[key, "tcpdump"], t[key, "pktlab"], t[key, "tcpdump"], t[key, "tcpdump"] / t[key, "pktlab"] }
  }'

echo
echo "== compile time: pktlab Compile (in process) vs one tcpdump -ddd run (process start included)"
printf '%-18s %12s %12s %9s\n' expression pktlab-us tcpdump-us ratio
declare -A exprs=(
  [tcp-port]='tcp port 80'
  [syn-only]='tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn'
  [host-and-proto]='host 198.18.1.2 and (tcp or icmp)'
  [port-list]='port 80 and (443 or 22)'
)
runs=50
for name in tcp-port syn-only host-and-proto port-list; do
  ns=$(echo "$out" | awk -v n="BenchmarkCompile/$name" '$1 ~ "^" n "-" { for (i = 2; i <= NF; i++) if ($(i) == "ns/op") print $(i-1) }')
  start=$(date +%s%N)
  for ((i = 0; i < runs; i++)); do tcpdump -ddd -y EN10MB "${exprs[$name]}" >/dev/null; done
  end=$(date +%s%N)
  td=$(( (end - start) / runs ))
  awk -v name="$name" -v ns="$ns" -v td="$td" 'BEGIN { printf "%-18s %12.1f %12.1f %8.0fx\n", name, ns / 1000, td / 1000, td / ns }'
done
