#!/usr/bin/env bash
# Capture rate: a sender in node a offers UDP frames on one veth as fast as pktlab
# send can write them; pktlab capture and tcpdump capture them side by side on b:eth0
# with the same filter. Prints frames sent, then received and dropped for each.
#   sudo bench/capture.sh [FRAMES] [SENDERS]   (default 200000 frames per sender, 2 senders)
# MERGE=1 makes pktlab capture both ends (a:eth0 and b:eth0, merged in time order)
# while one tcpdump per node captures each end; the counts are then summed.
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-200000}
senders=${2:-2}
tmp=$(mktemp -d)
lab=pktlab-capbench
name=capbench
cleanup() { "$tmp/pktlab" lab down $name >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$tmp/pktlab" ./cmd/pktlab
cat >"$tmp/lab.yaml" <<YAML
name: $name
nodes:
  a: {interfaces: {eth0: [198.18.1.1/24]}}
  b: {interfaces: {eth0: [198.18.1.2/24]}}
links:
  - [a:eth0, b:eth0]
YAML
"$tmp/pktlab" lab up "$tmp/lab.yaml" >/dev/null
filter='udp and dst port 9'
# Both captures run long enough to outlast the sender; both are stopped the same way.
ends=b; [ "${MERGE:-0}" = 1 ] && ends="a b"
"$tmp/pktlab" capture $name $(for n in $ends; do echo $n:eth0; done) -f "$filter" -w "$tmp/pktlab.pcapng" --duration 600s 2>"$tmp/pktlab.err" &
pk=$!
td=""
for n in $ends; do
  ip netns exec $lab-$n tcpdump -i eth0 -w "$tmp/tcpdump-$n.pcap" "$filter" 2>"$tmp/tcpdump-$n.err" &
  td="$td $!"
done
sleep 1.5
mac=$(ip netns exec $lab-b cat /sys/class/net/eth0/address)
start=$(date +%s.%N)
for ((i=0; i<senders; i++)); do
  "$tmp/pktlab" send $name a:eth0 --udp --dport 9 --sport $((40000+i)) --dst 198.18.1.2 --dst-mac "$mac" \
    --data 64 -c "$frames" -i 0 --json >/dev/null &
done
wait $(jobs -p | grep -v -x -e "$pk" $(for p in $td; do echo "-e $p"; done))
end=$(date +%s.%N)
frames=$((frames * senders))
sleep 1
kill -INT $pk $td; wait $pk $td 2>/dev/null || true
rate=$(awk -v n="$frames" -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", n/(e-s)}')
echo "sent $frames frames of 106 bytes in $(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.2f", e-s}') s ($rate frames/s)"
sum() { awk '{s += $1} END {print s+0}'; }
pr=$(sed -n 's/.*:eth0: \([0-9]*\) received by filter, [0-9]* dropped by kernel/\1/p' "$tmp/pktlab.err" | sum)
pd=$(sed -n 's/.*:eth0: [0-9]* received by filter, \([0-9]*\) dropped by kernel/\1/p' "$tmp/pktlab.err" | sum)
pc=$(sed -n 's/^\([0-9]*\) frames captured/\1/p' "$tmp/pktlab.err")
tc=$(cat "$tmp"/tcpdump-*.err | sed -n 's/^\([0-9]*\) packets captured/\1/p' | sum)
tr=$(cat "$tmp"/tcpdump-*.err | sed -n 's/^\([0-9]*\) packets received by filter/\1/p' | sum)
tdrop=$(cat "$tmp"/tcpdump-*.err | sed -n 's/^\([0-9]*\) packets dropped by kernel/\1/p' | sum)
printf '%-8s %10s %12s %10s\n' tool captured received dropped
printf '%-8s %10s %12s %10s\n' pktlab "$pc" "$pr" "$pd"
printf '%-8s %10s %12s %10s\n' tcpdump "$tc" "$tr" "$tdrop"
