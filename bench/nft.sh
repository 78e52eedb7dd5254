#!/usr/bin/env bash
# nftables: apply a 10 000-rule file with pktlab (one netlink batch) against `nft -f` of
# the same file, and read all counters back with pktlab against `nft list ruleset`,
# both inside one lab node. Prints milliseconds per round and the ratios.
#   sudo bench/nft.sh [ROUNDS] [RULES]
# Both sides are whole processes (start, parse, send, wait for the kernel), timed from
# the shell; the node's ruleset is flushed between rounds, outside the timing.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
nrules=${2:-10000}
tmp=$(mktemp -d)
lab=bnft$$
pk="$tmp/pktlab"
cleanup() { "$pk" lab down "$lab" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$pk" ./cmd/pktlab

cat >"$tmp/lab.yaml" <<YAML
name: $lab
nodes:
  fw:
    interfaces:
      eth0: [198.18.1.1/24]
  peer:
    interfaces:
      eth0: [198.18.1.2/24]
links:
  - [fw:eth0, peer:eth0]
YAML
"$pk" lab up "$tmp/lab.yaml" >/dev/null
ns="pktlab-$lab-fw"   # every nft below runs inside this lab namespace only

# The rules: distinct source addresses and ports, each with a counter.
{
  echo "table inet bench {"
  echo "  chain input {"
  echo "    type filter hook input priority filter; policy accept;"
  for ((i=0; i<nrules; i++)); do
    echo "    ip saddr 198.18.$((i / 250)).$((i % 250 + 1)) tcp dport $((1024 + i % 60000)) counter accept"
  done
  echo "  }"
  echo "}"
} >"$tmp/rules.nft"

# timeit ROUNDS SETUP CMD... -> "WALL_MS CPU_MS MIN_CPU_MS": averages of CMD's wall-clock
# time and user+system CPU time (bash's time keyword, children included), and the
# smallest CPU time of a round; SETUP runs untimed before each round. CPU time is what
# to compare on a busy machine.
timeit() {
  local r=$1 setup=$2; shift 2; local k line all=""
  for ((k=0; k<r; k++)); do
    eval "$setup"
    line=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null; } 2>&1 | tail -1 )
    all="$all$line"$'\n'
  done
  awk -v r="$r" 'NF==3{w+=$1; c+=$2+$3; if (!n++ || $2+$3<m) m=$2+$3} END{printf "%.1f %.1f %.1f", w/r*1000, c/r*1000, m*1000}' <<<"$all"
}
flush='ip netns exec "$ns" nft flush ruleset; sleep 1' # let the kernel finish freeing the old rules
noop=':'

p_apply=$(timeit "$rounds" "$flush" "$pk" nft "$lab" fw apply "$tmp/rules.nft")
n_apply=$(timeit "$rounds" "$flush" ip netns exec "$ns" nft -f "$tmp/rules.nft")
# Read-back rounds read the ruleset as pktlab applied it (with its base chain counter).
eval "$flush"; "$pk" nft "$lab" fw apply "$tmp/rules.nft"
p_read=$(timeit "$rounds" "$noop" "$pk" nft "$lab" fw counters --json)
n_read=$(timeit "$rounds" "$noop" ip netns exec "$ns" nft list ruleset)
# Both applies leave the same ruleset in the kernel, as nft lists it.
eval "$flush"; ip netns exec "$ns" nft -f "$tmp/rules.nft"; ip netns exec "$ns" nft list ruleset >"$tmp/by-nft"
eval "$flush"; "$pk" nft "$lab" fw apply "$tmp/rules.nft"; ip netns exec "$ns" nft list ruleset >"$tmp/by-pktlab"
cmp -s "$tmp/by-nft" "$tmp/by-pktlab" || { echo "nft list ruleset differs after pktlab apply and after nft -f" >&2; exit 1; }
got=$("$pk" nft "$lab" fw counters --json | grep -c '"packets"')
want=$((nrules + 1))
[[ $got == "$want" ]] || { echo "counters read back: $got, want $want" >&2; exit 1; }
"$pk" nft "$lab" fw list | diff -q - <(ip netns exec "$ns" nft list ruleset) >/dev/null || { echo "listings differ" >&2; exit 1; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2fx", a/b}'; }
row() { # row LABEL "PKTLAB_WALL PKTLAB_CPU PKTLAB_MINCPU" "NFT_WALL NFT_CPU NFT_MINCPU"
  local pw pc pm nw nc nm; read -r pw pc pm <<<"$2"; read -r nw nc nm <<<"$3"
  printf '%-26s %9s ms %9s ms %7s   %9s ms %9s ms %7s   %9s ms %9s ms %7s\n' "$1" "$pw" "$nw" "$(ratio "$nw" "$pw")" \
    "$pc" "$nc" "$(ratio "$nc" "$pc")" "$pm" "$nm" "$(ratio "$nm" "$pm")"
}
echo "$nrules rules, $rounds rounds; ratio = nft / pktlab (above 1: pktlab faster); load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-26s %12s %12s %7s   %12s %12s %7s   %12s %12s %7s\n' "operation" "pktlab wall" "nft wall" "ratio" \
  "pktlab cpu" "nft cpu" "ratio" "best pk cpu" "best nft cpu" "ratio"
row "apply file (one batch)" "$p_apply" "$n_apply"
row "read back all counters" "$p_read" "$n_read"
