#!/usr/bin/env bash
# Lab up+down: pktlab against a shell script of ip netns / ip link / ip addr / ip route
# commands building the same topology. Prints milliseconds per up+down and the ratio.
#   sudo bench/lab.sh [ROUNDS]
# The ip script does strictly less than pktlab: it does not wait for the links to be
# operationally up (pktlab does, so that no first frame is lost).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/pktlab" ./cmd/pktlab

# chain N NAME: the YAML of an N-node chain.
chain() {
  echo "name: $2"; echo "nodes:"
  for ((i=0; i<$1; i++)); do
    echo "  n$i:"; echo "    interfaces:"
    ((i > 0)) && echo "      e0: [198.18.$((i-1)).2/24]"
    ((i < $1-1)) && echo "      e1: [198.18.$i.1/24]"
  done
  echo "links:"
  for ((i=0; i<$1-1; i++)); do echo "  - [n$i:e1, n$((i+1)):e0]"; done
}

# The ip-command equivalents.
ip_crs_up() {
  local p=pktlab-bsh
  for n in client router server; do ip netns add $p-$n; ip -n $p-$n link set lo up
    ip netns exec $p-$n sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0; done
  ip netns exec $p-router sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  ip -n $p-client link add eth0 type veth peer name eth0 netns $p-router
  ip -n $p-router link add eth1 type veth peer name eth0 netns $p-server
  ip -n $p-client addr add 198.18.1.2/24 dev eth0; ip -n $p-client addr add 2001:db8:1::2/64 dev eth0 nodad
  ip -n $p-router addr add 198.18.1.1/24 dev eth0; ip -n $p-router addr add 2001:db8:1::1/64 dev eth0 nodad
  ip -n $p-router addr add 198.19.2.1/24 dev eth1; ip -n $p-router addr add 2001:db8:2::1/64 dev eth1 nodad
  ip -n $p-server addr add 198.19.2.2/24 dev eth0; ip -n $p-server addr add 2001:db8:2::2/64 dev eth0 nodad
  ip -n $p-client link set eth0 up; ip -n $p-router link set eth0 up; ip -n $p-router link set eth1 up; ip -n $p-server link set eth0 up
  ip -n $p-client route add default via 198.18.1.1; ip -n $p-client -6 route add default via 2001:db8:1::1
  ip -n $p-server route add default via 198.19.2.1; ip -n $p-server -6 route add default via 2001:db8:2::1
}
ip_crs_down() { for n in client router server; do ip netns del pktlab-bsh-$n; done; }
ip_chain_up() {
  local p=pktlab-bsh N=$1
  for ((i=0; i<N; i++)); do ip netns add $p-n$i; ip -n $p-n$i link set lo up
    ip netns exec $p-n$i sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0; done
  for ((i=0; i<N-1; i++)); do
    ip -n $p-n$i link add e1 type veth peer name e0 netns $p-n$((i+1))
    ip -n $p-n$i addr add 198.18.$i.1/24 dev e1; ip -n $p-n$((i+1)) addr add 198.18.$i.2/24 dev e0
    ip -n $p-n$i link set e1 up; ip -n $p-n$((i+1)) link set e0 up
  done
}
ip_chain_down() { for ((i=0; i<$1; i++)); do ip netns del pktlab-bsh-n$i; done; }

ms() { echo $(( ($2 - $1) / 1000000 )); }
timeit() { # timeit ROUNDS CMD... -> average ms per round, printed with 2 decimals
  local r=$1; shift; local t0 t1; t0=$(date +%s%N)
  for ((k=0; k<r; k++)); do "$@"; done
  t1=$(date +%s%N); awk -v d=$((t1-t0)) -v r="$r" 'BEGIN{printf "%.2f", d/r/1e6}'
}

sed 's/^name: crs/name: bcrs/' examples/labs/client-router-server.yaml >"$tmp/crs.yaml"
chain 50 bchain >"$tmp/chain.yaml"
pk_crs() { "$tmp/pktlab" lab up "$tmp/crs.yaml" >/dev/null; "$tmp/pktlab" lab down bcrs >/dev/null; }
pk_chain() { "$tmp/pktlab" lab up "$tmp/chain.yaml" >/dev/null; "$tmp/pktlab" lab down bchain >/dev/null; }
sh_crs() { ip_crs_up; ip_crs_down; }
sh_chain() { ip_chain_up 50; ip_chain_down 50; }

echo "lab up+down, average of $rounds rounds (ms), $(nproc) cores, kernel $(uname -r)"
a=$(timeit "$rounds" pk_crs); b=$(timeit "$rounds" sh_crs)
printf "%-26s pktlab %8s ms   ip script %8s ms   ratio %sx\n" "client-router-server" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.1f", b/a}')"
r2=$(( rounds > 5 ? 5 : rounds ))
a=$(timeit "$r2" pk_chain); b=$(timeit "$r2" sh_chain)
printf "%-26s pktlab %8s ms   ip script %8s ms   ratio %sx\n" "50-node chain" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.1f", b/a}')"
