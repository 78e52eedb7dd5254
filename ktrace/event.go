package ktrace

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/sockdiag"
	"github.com/pktlab/pktlab/timeline"
)

// ErrUnsupported is wrapped by every error Open returns when kernel tracing cannot
// be had here: no privileges (CAP_BPF and CAP_PERFMON, or root), no BPF, no BTF, a
// kernel whose tracepoints or structs differ from what the programs read. Callers
// test it with errors.Is and fall back (to sock_diag polling, say). When the cause is
// a permission error, errors.Is(err, os.ErrPermission) holds too.
var ErrUnsupported = errors.New("ktrace: kernel tracing unavailable")

// NetNS is a network namespace's inode number: ns.inum in the kernel, the st_ino of
// /proc/PID/ns/net or of a bind mount under /run/netns. It names a namespace for as
// long as it lives.
type NetNS uint32

// State is a kernel TCP state (include/net/tcp_states.h), the one type the project
// has for it.
type State = sockdiag.State

// CAState is a TCP sender's congestion state, enum tcp_ca_state of include/net/tcp.h.
type CAState uint8

// Congestion states.
const (
	CAOpen     CAState = 0 // no loss suspected
	CADisorder CAState = 1 // duplicate ACKs or SACKs seen
	CACWR      CAState = 2 // cwnd reduced after an ECN echo or local congestion
	CARecovery CAState = 3 // fast retransmit / fast recovery (RFC 6675, RACK)
	CALoss     CAState = 4 // retransmission timeout (or F-RTO after one)
)

var caNames = [...]string{"Open", "Disorder", "CWR", "Recovery", "Loss"}

func (c CAState) String() string {
	if int(c) < len(caNames) {
		return caNames[c]
	}
	return fmt.Sprintf("CAState(%d)", uint8(c))
}

// Tuple is a socket's addresses as the socket sees them.
type Tuple struct {
	Local, Remote netip.AddrPort
}

func (t Tuple) String() string { return t.Local.String() + " > " + t.Remote.String() }

// Header is what every event carries.
type Header struct {
	// Time is when the tracepoint fired, on CLOCK_REALTIME: the clock of packet-socket
	// timestamps (rawsock.Frame.Time), so events and frames sort together.
	Time  time.Time
	NetNS NetNS
	Node  string // the name given to Subscribe
	// Sock is the kernel address of the socket (0 if none): the same socket has the
	// same Sock in all its events until it is freed, as skaddr in the tracepoints'
	// own output.
	Sock uint64
}

// Event is one of *StateChange, *Retransmit, *SynAckRetransmit, *Reset, *Drop,
// *CongSample, *CongState and *Destroy.
type Event interface {
	EventHeader() *Header
}

// EventHeader returns the common part of an event.
func (h *Header) EventHeader() *Header { return h }

// StateChange is sock:inet_sock_set_state: a socket moved from Old to New. A
// listener's child is cloned in LISTEN and reported LISTEN → SYN_RECV; a socket that
// leaves for TIME_WAIT is reported FIN_WAIT2 → CLOSE or CLOSING → CLOSE, as the kernel
// replaces it by a timewait socket that has no tracepoint of its own (see doc.go).
type StateChange struct {
	Header
	Tuple
	Old, New State
	Protocol uint16 // IPPROTO_TCP (6) for TCP; the tracepoint also fires for others
}

// Retransmit is tcp:tcp_retransmit_skb: a segment sent again.
type Retransmit struct {
	Header
	Tuple
	State       State
	Seq, EndSeq uint32          // TCP_SKB_CB(skb): the segment's sequence range
	Flags       header.TCPFlags // the segment's flags (SYN for a SYN retransmission)
	// CA is the sender's congestion state at the time: Loss for a retransmission
	// timeout, Recovery for fast retransmit and loss detection by SACK or RACK.
	CA  CAState
	Err int32 // the transmit's result (0, or a negative errno)
}

// SynAckRetransmit is tcp:tcp_retransmit_synack: a listener sent a SYN-ACK again
// for a request socket, whose State is NEW_SYN_RECV: the one tracepoint where this
// kernel reports the request socket's state.
type SynAckRetransmit struct {
	Header
	Tuple
	State State
}

// Reset is tcp:tcp_send_reset (Sent) or tcp:tcp_receive_reset.
type Reset struct {
	Header
	Sent bool
	// Tuple is the socket's, or, when no socket matched (a segment to a closed
	// port), the one made from the segment that caused the reset, seen from the
	// node: Local is the segment's destination.
	Tuple
	State  State   // the socket's state, 0 when there was no socket
	Reason string  // sent: enum sk_rst_reason's name (NO_SOCKET, TCP_TIMEWAIT_SOCKET, NOT_SPECIFIED, …)
	Packet *Packet // sent: the segment that caused the reset, when there is one
}

// Drop is skb:kfree_skb: the kernel freed a packet it did not consume.
type Drop struct {
	Header
	Reason     string // enum skb_drop_reason's name: NETFILTER_DROP, NO_SOCKET, OTHERHOST, …
	ReasonCode uint32
	Location   uint64  // the kernel address that freed it
	Packet     *Packet // the dropped packet's headers, when its network header was set
	// SockState and SockTuple describe the socket the packet was for (kfree_skb's
	// rx_sk, else skb->sk), when there was one: for a segment a TIME_WAIT socket
	// answered and freed, SockState is TIME_WAIT.
	SockState State
	SockTuple Tuple
}

// Cong is the sender's state read from struct tcp_sock.
type Cong struct {
	CA                     CAState
	SndCwnd, Ssthresh      uint32 // segments
	SRTT                   time.Duration
	SndWnd, RcvWnd         uint32 // bytes
	SndNxt, SndUna         uint32
	MSS                    uint32 // mss_cache
	PacketsOut, RetransOut uint32
}

// CongSample is tcp:tcp_probe: a segment arrived on a connection (only when
// Options.Congestion asks for it).
type CongSample struct {
	Header
	Tuple
	Cong
}

// CongState is tcp:tcp_cong_state_set: the congestion state changes to New (Cong is
// read at the same moment, with CA still the old state).
type CongState struct {
	Header
	Tuple
	New CAState
	Cong
}

// Destroy is tcp:tcp_destroy_sock: the kernel freed a socket's TCP state.
type Destroy struct {
	Header
	Tuple
	State State
}

// Packet is what a record holds of a packet's headers: enough to find the frame in a
// capture. It is the timeline's type, so that events carry it there unchanged.
type Packet = timeline.KernelPacket

// Stats counts events. Lost is the number nobody saw: the kernel could not put them
// in the ring buffer because it was full.
type Stats struct {
	Lost      uint64 // records the programs could not reserve (ring full), all CPUs
	Emitted   uint64 // records the programs submitted
	Received  uint64 // records read from the ring
	Delivered uint64 // events handed to a subscriber
	Unknown   uint64 // records for a namespace nobody subscribes to any more, or undecodable
	// Rescued are events the kernel skipped for a tracepoint's first program,
	// because it was already running on that CPU (interrupted by a softirq), and
	// that its second program took instead (prog_linux.go, role).
	Rescued uint64
	// Missed are events both programs missed, machine-wide: the namespace of an
	// event no program ran for is unknown, so a tracer cannot say whose it was.
	Missed uint64
}
