package timeline

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
)

// Data is the typed record an event carries: one of *Frame, *Call, *KernelState,
// *UserspaceState, *Verdict, *Conntrack, *Step, *Note, *Outcome, *Retransmit, *Reset,
// *Drop and *CongestionSample. Renderers and matchers switch on the type; none of them
// parses text.
type Data interface {
	Kind() Kind
}

// KernelState is a kernel TCP socket's state change, as sock_diag (or a kernel
// tracepoint) reported it. States are the kernel's names (include/net/tcp_states.h,
// "SYN_SENT"); From is "new" for a socket first seen, To is "gone" for one that left
// the table.
type KernelState struct {
	Local  netip.AddrPort `json:"local,omitempty"`
	Remote netip.AddrPort `json:"remote,omitempty"`
	From   string         `json:"from,omitempty"`
	To     string         `json:"to,omitempty"`
	Source string         `json:"source,omitempty"` // who reported it: "tracepoint", "tcp_destroy_sock", "sock_diag poll"
}

// Kind is KindKernelState.
func (*KernelState) Kind() Kind { return KindKernelState }

// Gone and New are the pseudo-states of a socket that left or entered the table.
const (
	StateNew  = "new"
	StateGone = "gone"
)

// UserspaceState is a state change of pktlab's userspace TCP (package tcpstate), with
// the RFC 9293 rule that caused it. Remote is invalid for a listener.
type UserspaceState struct {
	Local  netip.AddrPort `json:"local,omitempty"`
	Remote netip.AddrPort `json:"remote,omitempty"`
	From   tcpstate.State `json:"-"`
	To     tcpstate.State `json:"-"`
	Cause  string         `json:"cause,omitempty"` // "RFC 9293 §3.10.7.3: …"
}

// Kind is KindUserspaceState.
func (*UserspaceState) Kind() Kind { return KindUserspaceState }

// VerdictType says why nftables emitted a trace event (enum nft_trace_types).
type VerdictType uint8

// Trace event types.
const (
	TraceRule   VerdictType = iota + 1 // a rule matched
	TraceReturn                        // a regular chain returned
	TracePolicy                        // a base chain's policy applied
)

var verdictTypeNames = [...]string{TraceRule: "rule", TraceReturn: "return", TracePolicy: "policy"}

func (t VerdictType) String() string {
	if int(t) < len(verdictTypeNames) && verdictTypeNames[t] != "" {
		return verdictTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Verdict is one nftables trace event: a packet (ID) met a rule, a chain's return or
// a base chain's policy.
type Verdict struct {
	ID         uint32      `json:"id,omitempty"` // the packet: every event of one packet has the same ID
	Type       VerdictType `json:"type,omitempty"`
	Family     string      `json:"family,omitempty"` // ip, ip6, inet, arp, bridge, netdev
	Table      string      `json:"table,omitempty"`
	Chain      string      `json:"chain,omitempty"`
	Hook       string      `json:"hook,omitempty"` // the hook of the base chain the packet is in ("" if unknown)
	RuleHandle uint64      `json:"rule_handle,omitempty"`
	Rule       string      `json:"rule,omitempty"`    // the rule in canonical nft syntax, "" when it could not be read
	Verdict    string      `json:"verdict,omitempty"` // accept, drop, continue, jump CHAIN, goto CHAIN, return
	Policy     string      `json:"policy,omitempty"`  // TracePolicy: the policy applied
	Mark       uint32      `json:"mark,omitempty"`    // meta mark
}

// Kind is KindVerdict.
func (*Verdict) Kind() Kind { return KindVerdict }

// String is the event as `nft monitor trace` would say it, without the trace id.
func (v *Verdict) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", v.Family, v.Table, v.Chain)
	if v.Hook != "" {
		fmt.Fprintf(&b, " (%s)", v.Hook)
	}
	switch v.Type {
	case TraceRule:
		if v.Rule != "" {
			fmt.Fprintf(&b, " rule %s (verdict %s)", v.Rule, v.Verdict)
		} else {
			fmt.Fprintf(&b, " unknown rule handle %d (verdict %s)", v.RuleHandle, v.Verdict)
		}
		return b.String()
	case TraceReturn:
		fmt.Fprintf(&b, " verdict %s", v.Verdict)
	case TracePolicy:
		fmt.Fprintf(&b, " policy %s", v.Policy)
	}
	if v.Mark != 0 {
		fmt.Fprintf(&b, " meta mark 0x%08x", v.Mark)
	}
	return b.String()
}

// Tuple is one direction of a tracked connection.
type Tuple struct {
	Src     netip.Addr `json:"src,omitempty"`
	Dst     netip.Addr `json:"dst,omitempty"`
	SrcPort uint16     `json:"sport,omitempty"`
	DstPort uint16     `json:"dport,omitempty"`
}

func (t Tuple) String() string {
	return fmt.Sprintf("src=%s dst=%s sport=%d dport=%d", t.Src, t.Dst, t.SrcPort, t.DstPort)
}

// Conntrack is a conntrack event (ctnetlink): an entry was created, updated or
// destroyed. For a NATed connection Reply is not Orig reversed.
type Conntrack struct {
	Type    string        `json:"type,omitempty"`  // new, update, destroy
	Proto   uint8         `json:"proto,omitempty"` // IP protocol number
	Orig    Tuple         `json:"orig,omitempty"`
	Reply   Tuple         `json:"reply,omitempty"`
	State   string        `json:"state,omitempty"` // TCP conntrack state (nf_conntrack_tcp.h), "" for others
	Timeout time.Duration `json:"-"`
	Mark    uint32        `json:"mark,omitempty"`
	Zone    uint16        `json:"zone,omitempty"`
}

// Kind is KindConntrack.
func (*Conntrack) Kind() Kind { return KindConntrack }

// ProtoName is the protocol as conntrack(8) prints it.
func (c *Conntrack) ProtoName() string {
	switch c.Proto {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 58:
		return "icmpv6"
	}
	return fmt.Sprint(c.Proto)
}

// Entry is the entry as conntrack(8) -L prints it.
func (c *Conntrack) Entry() string {
	s := fmt.Sprintf("%-4s %d %d ", c.ProtoName(), c.Proto, int(c.Timeout.Seconds()))
	if c.State != "" {
		s += c.State + " "
	}
	return s + c.Orig.String() + " " + c.Reply.String() + fmt.Sprintf(" mark=%d", c.Mark)
}

// Step is an experiment step beginning.
type Step struct {
	Action string `json:"action,omitempty"` // the step's action ("connect", "sleep", "exec", …)
	Text   string `json:"text,omitempty"`   // the step as the file says it, for a reader
}

// Kind is KindStep.
func (*Step) Kind() Kind { return KindStep }

// Note is anything else worth a line: a crafted frame sent, a packet socket's read,
// an error of a watcher.
type Note struct {
	Text string `json:"text,omitempty"`
}

// Kind is KindNote.
func (*Note) Kind() Kind { return KindNote }

// Outcome is an expectation's result.
type Outcome struct {
	Pass  bool   `json:"pass"`
	Pos   string `json:"pos,omitempty"`   // file:line:col of the expectation
	Where string `json:"where,omitempty"` // when it was checked: "at the end", "wait step at …"
	Want  string `json:"want,omitempty"`  // what it asked for, in words
	Seen  string `json:"seen,omitempty"`  // what was observed
}

// Kind is KindOutcome.
func (*Outcome) Kind() Kind { return KindOutcome }

// KernelPacket is the headers of a packet a kernel event is about (package ktrace's
// Packet): enough to find the frame in a capture.
type KernelPacket struct {
	Src     netip.Addr      `json:"src,omitempty"`
	Dst     netip.Addr      `json:"dst,omitempty"`
	Proto   uint8           `json:"proto,omitempty"`  // IP protocol
	Length  uint16          `json:"length,omitempty"` // IP length
	SrcPort uint16          `json:"sport,omitempty"`
	DstPort uint16          `json:"dport,omitempty"`
	Seq     uint32          `json:"seq,omitempty"`
	Ack     uint32          `json:"ack,omitempty"`
	Flags   header.TCPFlags `json:"-"`
}

func (p *KernelPacket) String() string {
	if p == nil {
		return ""
	}
	switch p.Proto {
	case 6:
		return fmt.Sprintf("%s > %s tcp [%v] seq %d ack %d", netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort), p.Flags, p.Seq, p.Ack)
	case 17:
		return fmt.Sprintf("%s > %s udp", netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort))
	}
	return fmt.Sprintf("%s > %s proto %d", p.Src, p.Dst, p.Proto)
}

// Retransmit is the kernel sending a segment again (tcp:tcp_retransmit_skb, or
// tcp:tcp_retransmit_synack when SynAck is set).
type Retransmit struct {
	Local  netip.AddrPort  `json:"local,omitempty"`
	Remote netip.AddrPort  `json:"remote,omitempty"`
	State  string          `json:"state,omitempty"`   // the socket's kernel state
	Seq    uint32          `json:"seq,omitempty"`     // the segment's sequence range
	EndSeq uint32          `json:"end_seq,omitempty"` // the segment's sequence range
	Flags  header.TCPFlags `json:"-"`
	CA     string          `json:"ca,omitempty"`     // the sender's congestion state: Open, Disorder, CWR, Recovery, Loss
	SynAck bool            `json:"synack,omitempty"` // a listener's SYN-ACK for a request socket
	Err    int32           `json:"err,omitempty"`    // the transmit's result (0 or a negative errno)
}

// Kind is KindRetransmit.
func (*Retransmit) Kind() Kind { return KindRetransmit }

// Reset is a RST the kernel sent (tcp:tcp_send_reset) or received
// (tcp:tcp_receive_reset).
type Reset struct {
	Sent   bool           `json:"sent,omitempty"`
	Local  netip.AddrPort `json:"local,omitempty"`
	Remote netip.AddrPort `json:"remote,omitempty"`
	State  string         `json:"state,omitempty"`  // the socket's state, "" when there was no socket
	Reason string         `json:"reason,omitempty"` // sent: enum sk_rst_reason's name (NO_SOCKET, …)
	Packet *KernelPacket  `json:"packet,omitempty"` // sent: the segment that caused it, when known
}

// Kind is KindReset.
func (*Reset) Kind() Kind { return KindReset }

// Drop is the kernel freeing a packet it did not consume (skb:kfree_skb).
type Drop struct {
	Reason     string        `json:"reason,omitempty"` // enum skb_drop_reason's name: NETFILTER_DROP, NO_SOCKET, …
	ReasonCode uint32        `json:"reason_code,omitempty"`
	Location   uint64        `json:"location,omitempty"` // the kernel address that freed it
	Packet     *KernelPacket `json:"packet,omitempty"`   // the dropped packet's headers, when known
	// SockState and the addresses describe the socket the packet was for, if any.
	SockState string         `json:"sock_state,omitempty"`
	Local     netip.AddrPort `json:"local,omitempty"`
	Remote    netip.AddrPort `json:"remote,omitempty"`
}

// Kind is KindDrop.
func (*Drop) Kind() Kind { return KindDrop }

// CongestionSample is a TCP sender's state read from struct tcp_sock
// (tcp:tcp_probe, or tcp:tcp_cong_state_set when NewCA is set).
type CongestionSample struct {
	Local      netip.AddrPort `json:"local,omitempty"`
	Remote     netip.AddrPort `json:"remote,omitempty"`
	CA         string         `json:"ca,omitempty"`       // congestion state at the sample
	NewCA      string         `json:"new_ca,omitempty"`   // tcp_cong_state_set: the state it changes to
	SndCwnd    uint32         `json:"snd_cwnd,omitempty"` // segments
	Ssthresh   uint32         `json:"ssthresh,omitempty"` // segments
	SRTT       time.Duration  `json:"-"`
	SndWnd     uint32         `json:"snd_wnd,omitempty"` // bytes
	RcvWnd     uint32         `json:"rcv_wnd,omitempty"` // bytes
	SndNxt     uint32         `json:"snd_nxt,omitempty"`
	SndUna     uint32         `json:"snd_una,omitempty"`
	MSS        uint32         `json:"mss,omitempty"`
	PacketsOut uint32         `json:"packets_out,omitempty"`
	RetransOut uint32         `json:"retrans_out,omitempty"`
}

// Kind is KindCongestion.
func (*CongestionSample) Kind() Kind { return KindCongestion }
