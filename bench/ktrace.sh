#!/usr/bin/env bash
# What tracing the kernel's TCP with ktrace costs, side by side in one run:
#   - kernel → kernel bulk throughput over a veth (offloads on, MTU 1500), untraced,
#     traced (every tracepoint but tcp_probe attached, both nodes subscribed), and
#     traced+cwnd (tcp_probe too: one event per ACK), alternating in ROUNDS rounds,
#     the order rotating (the machine is shared: compare within a round, look at
#     the load); throughput, and the process's CPU time per byte;
#   - 10 000 short connections traced: events, and how many were lost.
# Prints the CPU, each round's throughputs and ratios, their medians, and the counts.
#   sudo bench/ktrace.sh [ROUNDS] [BENCHTIME]     (default 5 rounds of 2s)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
rounds=${1:-5}
benchtime=${2:-2s}
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
go test -c -o "$dir/ktrace.test" ./ktrace/
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, kernel $(uname -r)"
orders=(untraced,traced,traced+cwnd traced,traced+cwnd,untraced traced+cwnd,untraced,traced)
for r in $(seq "$rounds"); do
  order=${orders[$(( (r - 1) % 3 ))]}
  echo "round $r ($order), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  PKTLAB_BENCH_ORDER=$order "$dir/ktrace.test" -test.run '^$' -test.bench '^BenchmarkBulk$' -test.benchtime "$benchtime" | grep '^BenchmarkBulk' | grep -v warmup | sed 's/^/  /'
done | tee "$dir/bulk"
echo
awk '
/^round/ { r++ }
/BenchmarkBulk\// {
  name=$1; sub(/^BenchmarkBulk\//, "", name); sub(/-[0-9]+$/, "", name)
  for (i = 2; i <= NF; i++) {
    if ($(i+1) == "MB/s") mbs[r, name] = $i
    if ($(i+1) == "cpu-ns/op") cpu[r, name] = $i
  }
}
function median(a, n,   i, j, t) {
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END {
  print "throughput (MB/s), and traced as a share of untraced in the same round:"
  printf "%-6s %10s %10s %10s %8s %8s\n", "round", "untraced", "traced", "+cwnd", "traced", "+cwnd"
  for (i = 1; i <= r; i++) {
    u = mbs[i, "untraced"]; t = mbs[i, "traced"]; c = mbs[i, "traced+cwnd"]
    a[i] = t / u; b[i] = c / u
    printf "%-6d %10.1f %10.1f %10.1f %7.1f%% %7.1f%%\n", i, u, t, c, 100 * a[i], 100 * b[i]
  }
  printf "%-39s %7.1f%% %7.1f%%\n", "median", 100 * median(a, r), 100 * median(b, r)
  print ""
  print "CPU time of the process per 256 KiB written (µs), and the throughput it allows"
  print "traced as a share of untraced (untraced CPU / traced CPU), same round:"
  printf "%-6s %10s %10s %10s %8s %8s\n", "round", "untraced", "traced", "+cwnd", "traced", "+cwnd"
  for (i = 1; i <= r; i++) {
    u = cpu[i, "untraced"]; t = cpu[i, "traced"]; c = cpu[i, "traced+cwnd"]
    x[i] = u / t; y[i] = u / c
    printf "%-6d %10.1f %10.1f %10.1f %7.1f%% %7.1f%%\n", i, u / 1000, t / 1000, c / 1000, 100 * x[i], 100 * y[i]
  }
  printf "%-39s %7.1f%% %7.1f%%\n", "median", 100 * median(x, r), 100 * median(y, r)
}' "$dir/bulk"
echo
echo "10 000 short connections, traced (load average $(cut -d' ' -f1-3 /proc/loadavg)):"
"$dir/ktrace.test" -test.run '^TestManyShortConnections$' -test.v | grep -E 'connections in|^(--- |ok|FAIL)' | sed 's/^ *//'
