#!/usr/bin/env bash
# Capture rate: a sender in node a offers UDP frames on one veth as fast as pktlab
# send can write them; pktlab capture and tcpdump capture them side by side on b:eth0
# with the same filter. Prints frames sent, then received and dropped for each.
#   sudo bench/capture.sh [FRAMES] [SENDERS]   (default 200000 frames per sender, 2 senders)
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
"$tmp/pktlab" capture $name b:eth0 -f "$filter" -w "$tmp/pktlab.pcapng" --duration 600s 2>"$tmp/pktlab.err" &
pk=$!
ip netns exec $lab-b tcpdump -i eth0 -w "$tmp/tcpdump.pcap" "$filter" 2>"$tmp/tcpdump.err" &
td=$!
sleep 1.5
mac=$(ip netns exec $lab-b cat /sys/class/net/eth0/address)
start=$(date +%s.%N)
for ((i=0; i<senders; i++)); do
  "$tmp/pktlab" send $name a:eth0 --udp --dport 9 --sport $((40000+i)) --dst 198.18.1.2 --dst-mac "$mac" \
    --data 64 -c "$frames" -i 0 --json >/dev/null &
done
wait $(jobs -p | grep -v -e "^$pk$" -e "^$td$")
end=$(date +%s.%N)
frames=$((frames * senders))
sleep 1
kill -INT $pk $td; wait $pk $td 2>/dev/null || true
rate=$(awk -v n="$frames" -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", n/(e-s)}')
echo "sent $frames frames of 106 bytes in $(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.2f", e-s}') s ($rate frames/s)"
pr=$(sed -n 's/.*b:eth0: \([0-9]*\) received by filter, \([0-9]*\) dropped by kernel/\1 \2/p' "$tmp/pktlab.err")
pc=$(sed -n 's/^\([0-9]*\) frames captured/\1/p' "$tmp/pktlab.err")
tc=$(sed -n 's/^\([0-9]*\) packets captured/\1/p' "$tmp/tcpdump.err")
tr=$(sed -n 's/^\([0-9]*\) packets received by filter/\1/p' "$tmp/tcpdump.err")
tdrop=$(sed -n 's/^\([0-9]*\) packets dropped by kernel/\1/p' "$tmp/tcpdump.err")
printf '%-8s %10s %12s %10s\n' tool captured received dropped
printf '%-8s %10s %12s %10s\n' pktlab "$pc" "${pr% *}" "${pr#* }"
printf '%-8s %10s %12s %10s\n' tcpdump "$tc" "$tr" "$tdrop"
