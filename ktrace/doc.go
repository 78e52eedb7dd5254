// Package ktrace traces the kernel's TCP from its tracepoints with eBPF, per lab
// node: every state change of every socket, retransmissions, resets sent and
// received, drops with the kernel's reason, and (when asked) congestion samples.
//
// A Tracer loads two raw tracepoint programs per tracepoint (sock:inet_sock_set_state,
// tcp:tcp_retransmit_skb, tcp:tcp_retransmit_synack, tcp:tcp_send_reset,
// tcp:tcp_receive_reset, tcp:tcp_cong_state_set, tcp:tcp_destroy_sock, skb:kfree_skb,
// and tcp:tcp_probe with Options.Congestion), written with cilium/ebpf's asm package
// so the build needs no clang and stays CGO_ENABLED=0. Raw tracepoints attach by name
// (BPF_RAW_TRACEPOINT_OPEN), so tracefs is never needed. The programs read kernel
// structs with bpf_probe_read_kernel at offsets taken from the running kernel's BTF
// (/sys/kernel/btf/vmlinux), never hard-coded; Open refuses a kernel whose tracepoint
// prototypes (btf_trace_* typedefs) or structs differ from what the programs read.
// The second program of each pair records only the events the kernel skipped the
// first for, because it was already running on that CPU (a softirq interrupted it):
// Stats.Rescued, and Stats.Missed for what both missed (docs/ktrace.md).
//
// Every event is attributed to a network namespace by inode (ns.inum): the socket's
// (sk->__sk_common.skc_net), else the device's the packet is on (skb->dev->nd_net),
// else the packet's socket's (skb->sk). The programs drop events of namespaces nobody
// subscribed to, so labs running in parallel with the same addresses never mix and
// the host's own traffic costs one map lookup per event. Events reach userspace
// through one BPF ring buffer; when it is full the program counts the event (per CPU,
// and per namespace: Stats.Lost, Subscription.Lost) instead of losing it silently.
// Timestamps come from bpf_ktime_get_tai_ns and are converted exactly to
// CLOCK_REALTIME, the clock of packet-socket timestamps (see clock). docs/ktrace.md
// has the details, the API in use and what this kernel reports.
//
// What the kernel reports, and what it does not:
//   - A listener's child is cloned in LISTEN: its path is LISTEN → SYN_RECV →
//     ESTABLISHED. The request socket that precedes it (NEW_SYN_RECV) is not a full
//     socket and has no state change; it shows up in SynAckRetransmit.
//   - A socket leaving for TIME_WAIT is replaced by an inet_timewait_sock and reported
//     FIN_WAIT2 → CLOSE (or CLOSING → CLOSE); the timewait socket has no state
//     tracepoint. An orphaned socket is handed over as soon as it reaches FIN_WAIT2,
//     before the peer's FIN. The timewait socket shows up when it handles a segment,
//     as the socket of a Drop (SockState TIME_WAIT).
//   - sock:inet_sock_set_state fires for MPTCP sockets too (StateChange.Protocol 262).
//
// What ktrace owns: its BPF programs, maps and links, all removed by Close; and the
// decoding of their records into typed events. What it must not touch: tracefs and
// every mount (it needs neither), the host's or any lab's network configuration, and
// other BPF objects. It never prints; the CLI (pktlab watch) renders its events.
package ktrace
