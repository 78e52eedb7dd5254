package experiment

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/pktlab/pktlab/sockdiag"
	"gopkg.in/yaml.v3"
)

// Expectations about the kernel's own TCP events, which the run reads from the
// kernel's tracepoints (package ktrace): see docs/ktrace.md for what this kernel
// reports.
const (
	ExpKernelState ExpectKind = "kernel_state" // a kernel socket's exact state path
	ExpDrop        ExpectKind = "drop"         // packets the kernel dropped, with the reason
	ExpRetransmit  ExpectKind = "retransmit"   // segments the kernel sent again
	ExpReset       ExpectKind = "reset"        // RSTs the kernel sent or received
)

// KernelStateMatch checks the state path of a node's kernel TCP sockets, as
// sock:inet_sock_set_state reports it: the first change's old state, then every new
// state, in order. Local and Remote select the sockets (unset, or port 0: any), and
// After and Before by their first change; the Quantity (by default at least one)
// counts the selected sockets that went exactly Path, or exactly one of Paths when a
// race the file cannot rule out decides between them (C5's simultaneous open).
type KernelStateMatch struct {
	KernelSelect
	Path  []string   // kernel names: CLOSE, SYN_SENT, ESTABLISHED, …
	Paths [][]string // instead of Path: any one of these
}

// KernelSelect is what the counting kernel expectations share: whose events, of
// which socket, in which part of the run, and how many.
type KernelSelect struct {
	Node          string
	Local, Remote netip.AddrPort // the socket's addresses; unset, or port 0: any
	Quantity
	After, Before string // step ids: only events from that step's start on, or before it
}

// DropMatch counts the packets a node's kernel dropped (skb:kfree_skb) for Reason,
// selected by the dropped packet's headers and the socket it was for (unset fields
// match anything).
type DropMatch struct {
	KernelSelect
	Reason    string // enum skb_drop_reason's name without SKB_DROP_REASON_: NETFILTER_DROP, NO_SOCKET, …
	Proto     string // tcp, udp, icmp, icmp6
	Src, Dst  netip.Addr
	SPort     *uint16 // nil: any
	DPort     *uint16
	Flags     string // exact TCP flags, tcpdump letters
	SockState string // the state of the socket the packet was for (TIME_WAIT for a timewait socket's)
}

// RetransmitMatch counts a node's retransmitted segments (tcp:tcp_retransmit_skb,
// and tcp:tcp_retransmit_synack for a SYN-ACK), selected by the socket's addresses,
// the segment's flags, the socket's state and the congestion state; Gaps checks the
// time between successive ones.
type RetransmitMatch struct {
	KernelSelect
	Flags string // exact, tcpdump letters: S (a SYN), S. (a SYN-ACK), F., P., …
	State string // the socket's kernel state
	CA    string // Open, Disorder, CWR, Recovery (loss detection), Loss (timeout)
	Gaps  []time.Duration
	Tol   float64
}

// ResetMatch counts the RSTs a node's kernel sent (tcp:tcp_send_reset) or received
// (tcp:tcp_receive_reset).
type ResetMatch struct {
	KernelSelect
	Sent   bool   // else received
	State  string // the socket's state; NONE: no socket (a segment to a closed port)
	Reason string // sent: enum sk_rst_reason's name (NO_SOCKET, TCP_STATE, …)
}

func (*KernelStateMatch) Kind() ExpectKind { return ExpKernelState }
func (*DropMatch) Kind() ExpectKind        { return ExpDrop }
func (*RetransmitMatch) Kind() ExpectKind  { return ExpRetransmit }
func (*ResetMatch) Kind() ExpectKind       { return ExpReset }

func (m *KernelStateMatch) check(ctx context.Context, r *run) (string, bool, string) {
	return r.checkKernel(ctx, m)
}
func (m *DropMatch) check(ctx context.Context, r *run) (string, bool, string) {
	return r.checkKernel(ctx, m)
}
func (m *RetransmitMatch) check(ctx context.Context, r *run) (string, bool, string) {
	return r.checkKernel(ctx, m)
}
func (m *ResetMatch) check(ctx context.Context, r *run) (string, bool, string) {
	return r.checkKernel(ctx, m)
}

// kernelNode parses node: and notes it for the check that it exists.
func (p *parser) kernelNode(v *yaml.Node, node *string) {
	*node, _ = p.Scalar(v, "node")
	p.nodeRefs = append(p.nodeRefs, stepRef{*node, v})
}

var selectKeys = []string{"node", "local", "remote", "count", "min_count", "none", "after", "before"}

// kernelSelect parses one of selectKeys.
func (p *parser) kernelSelect(k, v *yaml.Node, s *KernelSelect) {
	switch k.Value {
	case "node":
		p.kernelNode(v, &s.Node)
	case "local":
		s.Local = p.addrPort(v, "local")
	case "remote":
		s.Remote = p.addrPort(v, "remote")
	default:
		p.quantity(&s.Quantity, &s.After, &s.Before, k, v)
	}
}

// checkSelect requires the node and refuses none with a count.
func (p *parser) checkSelect(n *yaml.Node, kind, whose string, s *KernelSelect) {
	if s.Node == "" {
		p.Errorf(n, "%s needs node: %s", kind, whose)
	}
	p.checkQuantity(n, kind, s.Quantity)
}

// notReported are states the kernel of this project does not report as changes:
// a socket leaving for TIME_WAIT is replaced by a timewait socket and reported
// FIN_WAIT2 → CLOSE (or CLOSING → CLOSE); a request socket (NEW_SYN_RECV) is no full
// socket and has no state change (docs/ktrace.md).
var notReported = map[string]string{
	"TIME_WAIT":    "a socket leaving for TIME_WAIT is reported FIN_WAIT2 → CLOSE (or CLOSING → CLOSE): the kernel replaces it by a timewait socket, which has no state tracepoint",
	"NEW_SYN_RECV": "the request socket before a listener's child is not a full socket and has no state change; the child goes LISTEN → SYN_RECV → ESTABLISHED",
}

// kernelState parses a kernel state name; reported says it must be one
// inet_sock_set_state reports.
func (p *parser) kernelState(v *yaml.Node, what string, reported bool) string {
	s, ok := p.Scalar(v, what)
	if !ok {
		return ""
	}
	st, ok := sockdiag.ParseState(s)
	if !ok {
		p.Errorf(v, "%s %q is not a kernel TCP state: one of %s", what, s, strings.Join(sockdiag.StateNames(), ", "))
		return ""
	}
	if why := notReported[st.String()]; reported && why != "" {
		p.Errorf(v, "%s %s: not a state change on this kernel: %s", what, st, why)
	}
	return st.String()
}

func (p *parser) kernelStateMatch(n *yaml.Node) *KernelStateMatch {
	m := &KernelStateMatch{}
	p.Mapping(n, "kernel_state", append([]string{"path", "paths"}, selectKeys...), func(k, v *yaml.Node) {
		switch k.Value {
		case "path":
			m.Path = p.statePath(v)
		case "paths":
			if v.Kind != yaml.SequenceNode {
				p.Errorf(v, "paths must be a list of paths, like [[CLOSE, SYN_SENT, ESTABLISHED], [CLOSE, SYN_SENT, CLOSE]]")
				return
			}
			for _, alt := range v.Content {
				m.Paths = append(m.Paths, p.statePath(alt))
			}
		default:
			p.kernelSelect(k, v, &m.KernelSelect)
		}
	})
	p.checkSelect(n, "kernel_state", "whose sockets", &m.KernelSelect)
	if (len(m.Path) == 0) == (len(m.Paths) == 0) {
		p.Errorf(n, "kernel_state needs path (the states the socket goes through, like [CLOSE, SYN_SENT, ESTABLISHED]) or paths (a list of such), not both")
	}
	return m
}

// statePath parses one path: a list of states the kernel reports.
func (p *parser) statePath(v *yaml.Node) []string {
	var path []string
	for _, s := range p.List(v, "path") {
		path = append(path, p.kernelState(s, "path state", true))
	}
	return path
}

// reasonName checks the form of a kernel enum name; whether this kernel has it is
// known at run time only (from its BTF), and the outcome says so.
func (p *parser) reasonName(v *yaml.Node, what string) string {
	s, ok := p.Scalar(v, what)
	if !ok {
		return ""
	}
	s = strings.TrimPrefix(s, "SKB_DROP_REASON_")
	if s == "" || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
		p.Errorf(v, "%s %q must be the kernel's name, in capitals: NETFILTER_DROP, NO_SOCKET, TCP_INVALID_SEQUENCE, …", what, s)
	}
	return s
}

// kernelFlags parses exact TCP flags in tcpdump letters.
func (p *parser) kernelFlags(v *yaml.Node) string {
	s, ok := p.Scalar(v, "flags")
	if ok && strings.Trim(s, "SFRPUEW.") != "" {
		p.Errorf(v, "flags %q: TCP flags are written as tcpdump does: S F R P U E W and . for ACK", s)
	}
	return s
}

var dropProtos = []string{"tcp", "udp", "icmp", "icmp6"}

func (p *parser) dropMatch(n *yaml.Node) *DropMatch {
	m := &DropMatch{}
	p.Mapping(n, "drop", append([]string{"reason", "proto", "src", "dst", "sport", "dport", "flags", "sock_state"}, selectKeys...), func(k, v *yaml.Node) {
		switch k.Value {
		case "reason":
			m.Reason = p.reasonName(v, "reason")
		case "proto":
			m.Proto = p.Choice(v, "proto", dropProtos, "")
		case "src", "dst":
			*map[string]*netip.Addr{"src": &m.Src, "dst": &m.Dst}[k.Value] = p.addr(v, k.Value)
		case "sport", "dport":
			if port, ok := p.intValue(v, k.Value, 0, 65535); ok {
				*map[string]**uint16{"sport": &m.SPort, "dport": &m.DPort}[k.Value] = &[]uint16{uint16(port)}[0]
			}
		case "flags":
			m.Flags = p.kernelFlags(v)
		case "sock_state":
			m.SockState = p.kernelState(v, "sock_state", false)
		default:
			p.kernelSelect(k, v, &m.KernelSelect)
		}
	})
	p.checkSelect(n, "drop", "whose kernel dropped the packets", &m.KernelSelect)
	return m
}

var caNames = []string{"Open", "Disorder", "CWR", "Recovery", "Loss"}

func (p *parser) retransmitMatch(n *yaml.Node) *RetransmitMatch {
	m := &RetransmitMatch{Tol: 0.3}
	p.Mapping(n, "retransmit", append([]string{"flags", "state", "ca", "gaps", "tolerance"}, selectKeys...), func(k, v *yaml.Node) {
		switch k.Value {
		case "flags":
			m.Flags = p.kernelFlags(v)
		case "state":
			m.State = p.kernelState(v, "state", false)
		case "ca":
			m.CA = p.Choice(v, "ca", caNames, "congestion state")
		case "gaps":
			m.Gaps = p.gaps(v)
		case "tolerance":
			m.Tol = float64(p.Integer(v, "tolerance (percent)", 0, 100)) / 100
		default:
			p.kernelSelect(k, v, &m.KernelSelect)
		}
	})
	p.checkSelect(n, "retransmit", "whose kernel retransmitted", &m.KernelSelect)
	return m
}

// gaps parses a list of durations.
func (p *parser) gaps(v *yaml.Node) []time.Duration {
	if v.Kind != yaml.SequenceNode {
		p.Errorf(v, "gaps must be a list of durations, like [1s, 2s, 4s]")
		return nil
	}
	var out []time.Duration
	for _, g := range v.Content {
		out = append(out, p.Duration(g, "gap"))
	}
	return out
}

func (p *parser) resetMatch(n *yaml.Node) *ResetMatch {
	m := &ResetMatch{}
	var dir *yaml.Node
	p.Mapping(n, "reset", append([]string{"sent", "received", "state", "reason"}, selectKeys...), func(k, v *yaml.Node) {
		switch k.Value {
		case "sent", "received":
			if dir != nil {
				p.Errorf(k, "reset: give sent or received, not both")
			}
			dir = k
			if !p.Bool(v, k.Value) {
				p.Errorf(v, "reset: %s: false means nothing; write the other direction, or none: true", k.Value)
			}
			m.Sent = k.Value == "sent"
		case "state":
			if s, _ := p.Scalar(v, "state"); s == "NONE" {
				m.State = s
			} else {
				m.State = p.kernelState(v, "state", false)
			}
		case "reason":
			m.Reason = p.reasonName(v, "reason")
		default:
			p.kernelSelect(k, v, &m.KernelSelect)
		}
	})
	p.checkSelect(n, "reset", "whose kernel sent or received the RSTs", &m.KernelSelect)
	if dir == nil {
		p.Errorf(n, "reset needs sent: true or received: true")
	}
	if m.Reason != "" && !m.Sent {
		p.Errorf(n, "reset: reason is the kernel's reason for a RST it sent (tcp:tcp_send_reset); a received RST has none")
	}
	return m
}
