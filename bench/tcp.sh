#!/usr/bin/env bash
# Userspace TCP (tcpstate/host) against the Linux kernel's TCP, side by side on the
# same veth link (MTU 1500) in a fresh lab, one run:
#   - handshake latency, SYN sent → ESTABLISHED, userspace client vs kernel client,
#     to the same kernel server;
#   - bulk throughput userspace → kernel vs kernel → kernel, veth offloads (TSO, GSO,
#     GRO) on and off (ethtool inside the lab nodes);
#   - connections per second (open, 1 byte, close, until TIME-WAIT/closed).
# Prints the go test benchmark lines, then a table with the ratios.
#   sudo bench/tcp.sh [BENCHTIME]      (default 3s)
set -euo pipefail
cd "$(dirname "$0")/.."
benchtime=${1:-3s}
out=$(mktemp); trap 'rm -f "$out"' EXIT
go test -run '^$' -bench 'Handshake|Bulk|Conns' -benchtime "$benchtime" ./tcpstate/host/ | tee "$out" | grep '^Benchmark'
echo
awk '
/^Benchmark/ {
  name=$1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
  ns[name]=$3
  for (i=4; i<=NF; i++) if ($(i+1)=="MB/s") mbs[name]=$i
}
END {
  printf "%-34s %14s %14s %8s\n", "measure", "userspace", "kernel", "us/kern"
  printf "%-34s %11.1f µs %11.1f µs %7.2fx\n", "handshake latency", ns["HandshakeUserspace"]/1000, ns["HandshakeKernel"]/1000, ns["HandshakeUserspace"]/ns["HandshakeKernel"]
  printf "%-34s %9.1f MB/s %9.1f MB/s %7.2f\n", "bulk → kernel, offloads on", mbs["BulkUserspaceOffloadsOn"], mbs["BulkKernelOffloadsOn"], mbs["BulkUserspaceOffloadsOn"]/mbs["BulkKernelOffloadsOn"]
  printf "%-34s %9.1f MB/s %9.1f MB/s %7.2f\n", "bulk → kernel, offloads off", mbs["BulkUserspaceOffloadsOff"], mbs["BulkKernelOffloadsOff"], mbs["BulkUserspaceOffloadsOff"]/mbs["BulkKernelOffloadsOff"]
  printf "%-34s %11.0f /s %11.0f /s %7.2f\n", "connections per second", 1e9/ns["ConnsUserspace"], 1e9/ns["ConnsKernel"], ns["ConnsKernel"]/ns["ConnsUserspace"]
}' "$out"
