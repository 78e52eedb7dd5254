#!/usr/bin/env bash
# What tracing the kernel's TCP with ktrace costs, side by side in one run:
#   - kernel → kernel bulk throughput over a veth (offloads on, MTU 1500), untraced,
#     traced (every tracepoint but tcp_probe attached, both nodes subscribed), and
#     traced+cwnd (tcp_probe too: one event per ACK), alternating in ROUNDS rounds
#     (the machine is shared: compare within a round, look at the load);
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
for r in $(seq "$rounds"); do
  echo "round $r, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  "$dir/ktrace.test" -test.run '^$' -test.bench '^BenchmarkBulk$' -test.benchtime "$benchtime" | grep '^BenchmarkBulk' | sed 's/^/  /'
done | tee "$dir/bulk"
echo
awk '
/^round/ { r++ }
/BenchmarkBulk\// {
  name=$1; sub(/^BenchmarkBulk\//, "", name); sub(/-[0-9]+$/, "", name)
  for (i = 2; i <= NF; i++) if ($(i+1) == "MB/s") mbs[r, name] = $i
}
function median(a, n,   i, j, t) {
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END {
  printf "%-6s %14s %14s %14s %8s %8s\n", "round", "untraced MB/s", "traced MB/s", "+cwnd MB/s", "traced", "+cwnd"
  for (i = 1; i <= r; i++) {
    u = mbs[i, "untraced"]; t = mbs[i, "traced"]; c = mbs[i, "traced+cwnd"]
    a[i] = t / u; b[i] = c / u
    printf "%-6d %14.1f %14.1f %14.1f %7.1f%% %7.1f%%\n", i, u, t, c, 100 * a[i], 100 * b[i]
  }
  printf "median %44s %7.1f%% %7.1f%%\n", "", 100 * median(a, r), 100 * median(b, r)
}' "$dir/bulk"
echo
echo "10 000 short connections, traced (load average $(cut -d' ' -f1-3 /proc/loadavg)):"
"$dir/ktrace.test" -test.run '^TestManyShortConnections$' -test.v | grep -E 'connections in|^(--- |ok|FAIL)' | sed 's/^ *//'
