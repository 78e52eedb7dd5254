#!/usr/bin/env bash
# Runs every pktlab test, unit and privileged, and proves two things around them:
#  - the host's own network namespace is the same after the suite as before it
#    (links, addresses, routes, rules, nftables ruleset, network sysctls);
#  - nothing a lab created is left behind (namespaces, state files, links).
# Run it as root: privileged tests skip without CAP_NET_ADMIN/CAP_NET_RAW, and under
# CI=true any skipped test fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

# What the tests need from Debian, installed here so that this command alone works on
# a fresh machine (.ci/run is only this script with CI=true). Every package is used by
# some test; a test that needs a missing tool fails under CI=true rather than skip.
#   nftables     nft, for the conformance corpus and the nft cross-checks
#   tcpdump      tcpdump -ddd and -r, for capture filters and summaries
#   tshark       cross-checks of pcapng files and comments
#   iproute2     ip and ss, for the host snapshot below and lab cross-checks
#   ethtool      offload switches in the TCP tests
#   python3-scapy  the frame benchmarks' peer
#   util-linux   setpriv and unshare (unprivileged runs, private mount namespaces)
#   conntrack    conntrack -L cross-checks of the nat package
#   bpftrace     ktrace's cross-check on sock:inet_sock_set_state (TestMatchesBpftrace)
#   bpftool      the BPF program/map/link counts of the host snapshot below, and
#                pktlab watch's test that its objects are gone after it ends
#   stress-ng    the load (stress-ng --cpu 2) the suite must pass beside, to check that
#                tests sync on the kernel and not on time
#   chromium     the HTML report's browser tests (headless, driven by chromedp)
#   procps       sysctl, which drill's packetdrill scripts run inside their lab node
packages="nftables tcpdump tshark iproute2 ethtool python3-scapy util-linux conntrack bpftrace bpftool stress-ng chromium procps"
missing=""
for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages:$missing (run this script as root to install them)" >&2
    exit 1
  fi
  echo "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; then
    echo "could not install:$missing" >&2
    exit 1
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The host's network state, without counters or anything that changes by itself.
snapshot() {
  {
    echo "## links"; ip -d -o link show 2>&1 | sed -E 's/ (qlen|alias) [^ ]+//g'
    echo "## addresses"; ip -o addr show 2>&1 | sed -E 's/valid_lft [^ ]+ preferred_lft [^ ]+//'
    echo "## routes"; ip route show table all 2>&1; ip -6 route show table all 2>&1 | grep -v ' expires '
    echo "## rules"; ip rule 2>&1; ip -6 rule 2>&1
    echo "## nftables"; nft list ruleset 2>&1
    echo "## sysctls"
    for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv4.tcp_timestamps \
             net.ipv4.tcp_sack net.ipv4.tcp_window_scaling net.ipv4.tcp_ecn \
             net.ipv4.ip_local_port_range net.ipv4.tcp_syn_retries net.ipv4.tcp_retries2 \
             net.ipv4.tcp_tw_reuse net.ipv6.conf.all.accept_dad net.ipv6.conf.default.accept_dad \
             net.ipv4.tcp_keepalive_time net.core.somaxconn; do
      printf '%s = %s\n' "$k" "$(cat /proc/sys/${k//.//} 2>&1)"
    done
    # BPF objects that no process holds: a program, map or link a test left attached
    # or pinned outlives its process and shows here. One a live process holds (its
    # fdinfo names it, or a held program uses the map) goes when that process ends:
    # a second copy of this suite, or a user's pktlab watch, is not a leak.
    echo "## bpf objects no process holds"
    bpf_unheld

    # Mounts (mount point and type): tracefs is mounted only in private mount
    # namespaces (unshare -m). /run/netns is left out: like `ip netns add`, testlab
    # makes it a shared mount point once and binds the labs' namespaces under it.
    echo "## mounts"
    awk '{for (i = 7; i <= NF; i++) if ($i == "-") { print $5, $(i + 1); break }}' /proc/self/mountinfo \
      | grep -v '^/run/netns' | sort
  } >"$1"
}

# bpf_unheld counts the BPF programs, maps and links that no process holds.
bpf_unheld() {
  local held
  held=$(cat /proc/[0-9]*/fdinfo/* 2>/dev/null | awk '$1 ~ /^(prog|map|link)_id:$/ {print $1 $2}' | sort -u)
  python3 - "$held" <<'PY'
import json, subprocess, sys
held = set(sys.argv[1].split())
progs = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout or "[]")
maps = json.loads(subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True, text=True).stdout or "[]")
links = json.loads(subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True, text=True).stdout or "[]")
linked = {l.get("prog_id") for l in links if "link_id:%d" % l["id"] in held}
live = [p for p in progs if "prog_id:%d" % p["id"] in held or p["id"] in linked]
used = {m for p in live for m in p.get("map_ids", [])}
print("prog:", sum(1 for p in progs if p not in live))
print("map:", sum(1 for m in maps if "map_id:%d" % m["id"] not in held and m["id"] not in used))
print("link:", sum(1 for l in links if "link_id:%d" % l["id"] not in held))
PY
}

# lab_live reports whether lab $1's creator still runs: the pid and start time (field
# 22 of /proc/PID/stat) its state file records. A live creator's lab is its own (a
# second copy of this suite, a user's lab up), never a leftover of this run.
lab_live() {
  python3 - "$1" <<'PY'
import json, sys
try:
    st = json.load(open("/run/pktlab/%s.json" % sys.argv[1]))
    stat = open("/proc/%d/stat" % st["pid"]).read()
    sys.exit(0 if int(stat.rsplit(")", 1)[1].split()[19]) == st["pid_start"] else 1)
except Exception:
    sys.exit(1)
PY
}

# leftovers prints the pktlab objects of objects-after that were not there before and
# do not belong to a live creator's lab (namespace pktlab-LAB-NODE, state LAB.json).
leftovers() {
  local o lab
  for o in $(comm -13 "$work/objects-before" "$work/objects-after"); do
    case "$o" in
      *.json) lab=${o%.json} ;;
      pktlab-*) lab=${o#pktlab-}; lab=${lab%-*} ;;
      *) lab="" ;;
    esac
    if [ -n "$lab" ] && lab_live "$lab"; then continue; fi
    echo "$o"
  done
}

# Everything named pktlab-* now: namespaces, state files, host links.
pktlab_objects() {
  (ls /run/netns 2>/dev/null | grep '^pktlab'; ls /run/pktlab 2>/dev/null | grep -v '^\.'
   ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^pktlab') | sort
}

snapshot "$work/before"
pktlab_objects >"$work/objects-before"
if [ -s "$work/objects-before" ]; then
  echo "note: pktlab objects existed before the tests (not counted as leftovers): $(tr '\n' ' ' <"$work/objects-before")"
fi
skiplog="$work/skipped"; : >"$skiplog"
export PKTLAB_SKIP_LOG="$skiplog"

go test -count=1 -timeout 45m -v ./... >"$work/log" 2>&1
rc=$?

# What go test said, without the per-test chatter of -v.
grep -E '^(ok|FAIL|---|panic:|\s+--- FAIL|\s+[a-z_]+\.go:[0-9]+:)|cannot|build failed|\[setup failed\]' "$work/log" \
  | grep -vE '^\s*--- (PASS|SKIP)' | grep -v '^=== ' || true

passed=$(grep -cE '^\s*--- PASS' "$work/log")
failed=$(grep -cE '^\s*--- FAIL' "$work/log")
skipped=$(grep -cE '^\s*--- SKIP' "$work/log")

status=0
if [ "$rc" -ne 0 ]; then
  echo "go test failed (exit $rc); what each failed test printed follows"; echo "-----"
  # A failed test's lines: under -v, a test's output follows its "=== RUN|CONT|NAME"
  # line until the next such header (parallel tests interleave). At most 3000 lines.
  grep -E '^\s*--- FAIL: ' "$work/log" | sed -E 's/^\s*--- FAIL: ([^ ]+).*/\1/' | sort -u >"$work/failed"
  awk -v list="$work/failed" 'BEGIN { while ((getline n < list) > 0) bad[n] = 1 }
    /^=== (RUN|CONT|NAME|PAUSE) / { show = ($3 in bad); if (show) print; next }
    /^(ok|FAIL|PASS)(\s|$)/ { show = 0 }
    show' "$work/log" | head -n 3000
  echo "-----"; echo "last lines of the log:"; grep -vE '^\s*--- PASS|^=== (RUN|PAUSE|CONT|NAME)' "$work/log" | tail -n 60
  cp "$work/log" "${TMPDIR:-/tmp}/pktlab-test.log" 2>/dev/null && echo "full log: ${TMPDIR:-/tmp}/pktlab-test.log"
  status=1
fi

# The kernel frees a BPF object after its last holder exits, a moment later (RCU):
# a process of a concurrent copy of the suite that just ended leaves its objects
# unheld for that moment. A difference that persists ten seconds is real.
for try in 1 2 3 4 5 6 7 8 9 10; do
  snapshot "$work/after"
  diff -q "$work/before" "$work/after" >/dev/null && break
  sleep 1
done
if ! diff -u "$work/before" "$work/after" >"$work/hostdiff"; then
  echo "HOST NAMESPACE CHANGED during the tests (a ground-rule violation):"; cat "$work/hostdiff"
  status=1
else
  echo "host namespace: unchanged (links, addresses, routes, rules, nftables, sysctls, BPF objects, mounts)"
fi

# A lab being built or removed by another live process can lack its state file for a
# moment: objects that are gone within ten seconds were not left behind.
for try in 1 2 3 4 5 6 7 8 9 10; do
  pktlab_objects >"$work/objects-after"
  left=$(leftovers | tr '\n' ' ')
  [ -z "$left" ] && break
  sleep 1
done
if [ -n "$left" ]; then
  echo "LEFTOVERS after the tests: $left"; status=1
else
  echo "leftovers: none (no pktlab namespace, state file or link)"
fi

if [ "$skipped" -gt 0 ]; then
  echo "skipped tests:"; grep -E '^\s*--- SKIP' -A1 "$work/log" | sed 's/^/  /'
  if [ "${CI:-}" = "true" ]; then
    echo "CI=true: skipped tests are failures (privileged tests must run in CI)"; status=1
  fi
fi
if [ -s "$skiplog" ]; then
  echo "privileged tests that skipped:"; sed 's/^/  /' "$skiplog"
  [ "${CI:-}" = "true" ] && status=1
fi

echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
