package picture

import (
	"net/netip"
	"strings"
	"time"

	"github.com/pktlab/pktlab/timeline"
)

// RowKind says what a row of a diagram shows.
type RowKind int

// Row kinds: a frame is an arrow between two lanes, the others are written under one
// lane (or across the diagram when they belong to no node).
const (
	RowFrame   RowKind = iota + 1 // a frame on a link
	RowCall                       // a socket call
	RowState                      // a TCP state change, kernel or userspace
	RowVerdict                    // an nftables trace verdict
	RowCT                         // a conntrack event
	RowStep                       // an experiment step began
	RowNote                       // anything else, e.g. an expectation's outcome
	RowKernel                     // the kernel retransmitted, sent or received a RST, or dropped a packet
)

var rowKindNames = [...]string{RowFrame: "frame", RowCall: "call", RowState: "state",
	RowVerdict: "verdict", RowCT: "conntrack", RowStep: "step", RowNote: "note", RowKernel: "kernel"}

func (k RowKind) String() string {
	if k > 0 && int(k) < len(rowKindNames) {
		return rowKindNames[k]
	}
	return "unknown"
}

// Mark is the timeline's prefix for a kind of row, as the text timeline prints it.
func (k RowKind) Mark() string {
	switch k {
	case RowCall:
		return "=="
	case RowState:
		return "::"
	case RowVerdict:
		return "nf"
	case RowCT:
		return "ct"
	case RowStep:
		return "--"
	case RowNote:
		return "!!"
	case RowKernel:
		return "kt"
	}
	return ""
}

// Lane is one vertical line of a ladder: a lab node, or, for the far end of a link
// that was not captured, the address frames came from or went to.
type Lane struct {
	Name string
	Node bool // a captured node, not an address
}

// Row is one line of a diagram.
type Row struct {
	Kind RowKind
	T    time.Duration // since the timeline's start
	// From and To are the sending and receiving lanes of a frame; any other row is
	// written under lane From, or belongs to no lane when From is -1.
	From, To int
	// FromIf and ToIf are the interfaces of a frame's ends ("" for an address lane).
	FromIf, ToIf string
	Flow         int    // the frame's flow, 0 for none
	Label        string // the frame's short form: "SYN seq 0 mss 1460"
	Line         string // the frame's full tcpdump -n line, or the other row's text
	Lost         bool   // sent on a link whose other end was captured, and never seen there
	NAT          string // the frame as it entered the node before a rewrite: "a:p > b:q on router:eth0"
	Drop         string // the verdict that dropped the frame in the receiving node
	Fail         bool   // a note that reports a failed expectation
	NATIn        string // the endpoint ("router:eth0") the packet entered on before its rewrite
	Short        string // what a ladder writes of a non-frame row, when not Line: "SYN-SENT → ESTABLISHED"
	// Ends are the two ends of the connection a kernel row is about (its socket's, or
	// the packet's), either way round; a port is 0 where the kernel did not say it.
	Ends [2]netip.AddrPort
	// Retransmit marks a TCP segment that carries data below the highest sequence
	// number its sender had sent; DupAck counts the duplicate ACKs in a row (RFC 5681
	// §2: no data, no SYN or FIN, the same acknowledgment and window as the last).
	Retransmit bool
	DupAck     int
	Frame      *timeline.Frame
}

// Flow is one TCP or UDP flow of a diagram.
type Flow struct {
	ID          int
	Proto       string
	Src, Dst    netip.AddrPort // as the flow's first frame has them
	Frames      int
	First, Last time.Duration
}

// Diagram is what the renderers draw: lanes, rows in time order, and the flows.
type Diagram struct {
	Lanes   []Lane
	Rows    []Row
	Flows   []Flow
	Samples []Sample // congestion samples, where the timeline has them
}

// Sample is one reading of a TCP sender's congestion state (the kernel's tcp_sock).
type Sample struct {
	T              time.Duration
	Socket         string // "local > remote"
	Cwnd, Ssthresh uint32 // segments
	SRTT           time.Duration
}

// FromTimeline converts a timeline. A frame recorded on both ends of a link becomes one
// arrow from the node that sent it to the node that received it; a frame on a link
// whose far end was not captured has that end's address as its other lane (the node
// that owns the address when the timeline shows one sending from it).
func FromTimeline(tl *timeline.Timeline) *Diagram {
	b := &builder{tl: tl, d: &Diagram{}, lanes: map[string]int{}, owner: map[netip.Addr]string{}, lastIn: map[int]int{}}
	evs := tl.Events()
	b.index(evs)
	for _, e := range evs {
		b.add(e)
	}
	b.deaths()
	return b.d
}

type builder struct {
	tl     *timeline.Timeline
	d      *Diagram
	lanes  map[string]int
	owner  map[netip.Addr]string // address → node that sent from it
	recv   map[string][]timeline.Event
	lastIn map[int]int // lane → row of the last arrow into it
	flows  map[int]int // flow id → index in d.Flows
	dirs   map[direction]*sender
	isn    map[[2]netip.AddrPort]uint32 // (source, destination) → the first sequence number sent
}

// direction is one side of a TCP flow on one link: a router forwards the same
// segments, which are not retransmissions.
type direction struct {
	flow     int
	src      netip.AddrPort
	from, to int // lanes
}

// sender is what one side of a TCP flow has sent so far.
type sender struct {
	nxt      uint32 // highest relative sequence number sent, plus one
	ack, win uint32
	acked    bool // ack and win hold the last segment's
	dups     int
}

// index learns which node owns which address, and where the receivers' copies are.
func (b *builder) index(evs []timeline.Event) {
	b.recv = map[string][]timeline.Event{}
	for _, e := range evs {
		f := e.Frame()
		if f == nil {
			continue
		}
		if f.Dup {
			b.recv[string(f.Data)] = append(b.recv[string(f.Data)], e)
		}
		b.learnISN(f, true)
		if f.Out && e.Node != "" && f.Packet.Src.IsValid() && f.NAT == nil {
			if _, ok := b.owner[f.Packet.Src]; !ok {
				b.owner[f.Packet.Src] = e.Node
			}
		}
	}
}

func (b *builder) lane(name string, node bool) int {
	if i, ok := b.lanes[name]; ok {
		return i
	}
	b.lanes[name] = len(b.d.Lanes)
	b.d.Lanes = append(b.d.Lanes, Lane{Name: name, Node: node})
	return len(b.d.Lanes) - 1
}

// addrLane is the lane of a far end known only by its address.
func (b *builder) addrLane(a netip.Addr) int {
	if n, ok := b.owner[a]; ok {
		return b.lane(n, true)
	}
	if !a.IsValid() {
		return b.lane("?", false)
	}
	return b.lane(a.String(), false)
}

func (b *builder) add(e timeline.Event) {
	r := Row{T: e.Time.Sub(b.tl.Start), From: -1, To: -1}
	r.Line = b.tl.Text(e)
	drop := false
	switch d := e.Data.(type) {
	case *timeline.Frame:
		if d.Dup {
			return
		}
		b.frame(e, r)
		return
	case *timeline.Call:
		r.Kind = RowCall
		if d.Node != "" {
			r.Line = strings.TrimPrefix(r.Line, d.Node+" ")
		}
	case *timeline.KernelState:
		r.Kind, r.Short = RowState, d.From+" → "+d.To
	case *timeline.UserspaceState:
		r.Kind, r.Short = RowState, "userspace "+d.From.String()+" → "+d.To.String()
	case *timeline.Verdict:
		r.Kind = RowVerdict
		drop = d.Verdict == "drop" || d.Type == timeline.TracePolicy && d.Policy == "drop"
	case *timeline.Conntrack:
		r.Kind = RowCT
	case *timeline.Step:
		r.Kind = RowStep
	case *timeline.Retransmit, *timeline.Reset, *timeline.Drop:
		b.kernel(e, r)
		return
	case *timeline.CongestionSample:
		b.d.Samples = append(b.d.Samples, Sample{T: r.T, Socket: d.Local.String() + " > " + d.Remote.String(), Cwnd: d.SndCwnd, Ssthresh: d.Ssthresh, SRTT: d.SRTT})
		return
	case *timeline.Outcome:
		r.Kind, r.Fail = RowNote, !d.Pass
	default:
		r.Kind = RowNote
	}
	if e.Node != "" {
		r.From = b.lane(e.Node, true)
	}
	if r.Kind == RowVerdict && r.From >= 0 && drop {
		if i, ok := b.lastIn[r.From]; ok && r.T-b.d.Rows[i].T < 20*time.Millisecond && b.d.Rows[i].Drop == "" {
			b.d.Rows[i].Drop = r.Line
		}
	}
	b.d.Rows = append(b.d.Rows, r)
}

func (b *builder) frame(e timeline.Event, r Row) {
	f := e.Frame()
	ep := b.tl.Endpoints[f.Index]
	r.Kind, r.Flow, r.Frame = RowFrame, f.Flow, f
	if f.NAT != nil {
		r.NAT, r.NATIn = b.tl.NATText(f.NAT), b.tl.Endpoints[f.NAT.Endpoint].String()
	}
	r.Label, r.Line = Label(f), f.Line
	if r.Line == "" {
		r.Line = f.Summary()
	}
	src, dst := f.Packet.Src, f.Packet.Dst
	switch {
	case ep.Node == "":
		// The capture does not say which end sent it: lanes by address.
		r.From, r.To = b.addrLane(src), b.addrLane(dst)
	case f.Out && ep.Peer >= 0:
		peer := b.tl.Endpoints[ep.Peer]
		r.From, r.To = b.lane(ep.Node, true), b.lane(peer.Node, true)
		r.FromIf, r.ToIf = ep.Iface, peer.Iface
		r.Lost = !b.received(e, ep.Peer)
	case f.Out:
		r.From, r.To, r.FromIf = b.lane(ep.Node, true), b.addrLane(dst), ep.Iface
	case ep.Peer >= 0:
		peer := b.tl.Endpoints[ep.Peer]
		r.From, r.To = b.lane(peer.Node, true), b.lane(ep.Node, true)
		r.FromIf, r.ToIf = peer.Iface, ep.Iface
	default:
		r.From, r.To, r.ToIf = b.addrLane(src), b.lane(ep.Node, true), ep.Iface
	}
	b.tcp(&r)
	b.learnISN(f, false)
	b.lastIn[r.To] = len(b.d.Rows)
	b.d.Rows = append(b.d.Rows, r)
	b.flow(f, r.T)
}

// received reports whether the other end of the link recorded the frame.
func (b *builder) received(e timeline.Event, peer int) bool {
	for _, c := range b.recv[string(e.Frame().Data)] {
		if d := c.Time.Sub(e.Time); c.Frame().Index == peer && d < 20*time.Millisecond && d > -20*time.Millisecond {
			return true
		}
	}
	return false
}

func (b *builder) flow(f *timeline.Frame, t time.Duration) {
	if f.Flow == 0 {
		return
	}
	if b.flows == nil {
		b.flows = map[int]int{}
	}
	i, ok := b.flows[f.Flow]
	if !ok {
		p := &f.Packet
		i = len(b.d.Flows)
		b.flows[f.Flow] = i
		b.d.Flows = append(b.d.Flows, Flow{ID: f.Flow, Proto: p.Proto, First: t,
			Src: netip.AddrPortFrom(p.Src, uint16(p.SPort)), Dst: netip.AddrPortFrom(p.Dst, uint16(p.DPort))})
	}
	b.d.Flows[i].Frames++
	b.d.Flows[i].Last = t
}

// tcp marks retransmissions and duplicate ACKs.
func (b *builder) tcp(r *Row) {
	f, p := r.Frame, &r.Frame.Packet
	if p.Proto != "tcp" || f.Flow == 0 {
		return
	}
	if b.dirs == nil {
		b.dirs = map[direction]*sender{}
	}
	k := direction{f.Flow, netip.AddrPortFrom(p.Src, uint16(p.SPort)), r.From, r.To}
	s := b.dirs[k]
	if s == nil {
		s = &sender{}
		b.dirs[k] = s
	}
	n := uint32(p.PayloadLen)
	if strings.ContainsAny(p.Flags.String(), "SF") {
		n++
	}
	end := f.RelSeq + n
	if p.PayloadLen > 0 && int32(f.RelSeq-s.nxt) < 0 {
		r.Retransmit = true
	}
	if int32(end-s.nxt) > 0 {
		s.nxt = end
	}
	if !strings.Contains(p.Flags.String(), ".") {
		return
	}
	pure := n == 0 && !strings.Contains(p.Flags.String(), "R")
	// A SACK block tells the ACK is a duplicate whatever the window (RFC 6675 §2).
	sameWin := uint32(p.Window) == s.win || hasSACK(p)
	if pure && s.acked && f.RelAck == s.ack && sameWin {
		s.dups++
		r.DupAck = s.dups
	} else {
		s.dups = 0
	}
	s.ack, s.win, s.acked = f.RelAck, uint32(p.Window), true
}

// forwardWindow is how long a router may take to forward a frame.
const forwardWindow = 50 * time.Millisecond

// deaths marks where frames died that no verdict tells of: a frame that a node
// answered with an ICMP error quoting it, and one that a node forwarding its flow
// (receiving from one lane, sending on to another) did not send on.
func (b *builder) deaths() {
	rows := b.d.Rows
	transit := map[[2]int]bool{} // (flow, lane) that forwards the flow
	in := map[[2]int]map[int]bool{}
	for _, r := range rows {
		if r.Kind == RowFrame && r.Flow > 0 {
			k := [2]int{r.Flow, r.To}
			if in[k] == nil {
				in[k] = map[int]bool{}
			}
			in[k][r.From] = true
		}
	}
	for _, r := range rows {
		if r.Kind == RowFrame && r.Flow > 0 {
			for from := range in[[2]int{r.Flow, r.From}] {
				if from != r.To {
					transit[[2]int{r.Flow, r.From}] = true
				}
			}
		}
	}
	for i := range rows {
		r := &rows[i]
		if r.Kind != RowFrame || r.Lost || r.Drop != "" {
			continue
		}
		if q := r.Frame.Packet.Inner; q != nil && r.Frame.Packet.ICMPType >= 0 {
			b.answered(i, q)
		}
		if r.Flow > 0 && transit[[2]int{r.Flow, r.To}] && !b.forwarded(i) && b.owner[r.Frame.Packet.Dst] != b.d.Lanes[r.To].Name {
			r.Drop = "not forwarded by " + b.d.Lanes[r.To].Name
		}
	}
}

// answered marks the frame that ICMP error row i quotes as ended where the error came from.
func (b *builder) answered(i int, q *timeline.Packet) {
	e := b.d.Rows[i]
	for j := i - 1; j >= 0 && e.T-b.d.Rows[j].T < time.Second; j-- {
		r := &b.d.Rows[j]
		p := &r.Frame.Packet
		if r.Kind == RowFrame && r.To == e.From && r.Drop == "" && p.Proto == q.Proto && p.Src == q.Src && p.Dst == q.Dst && p.SPort == q.SPort && p.DPort == q.DPort {
			r.Drop = "answered with " + e.Label
			return
		}
	}
}

// forwarded reports whether the lane frame row i went to sent the same packet on
// (same IP ID, TCP numbers and flags, and length; addresses and ports may be rewritten).
func (b *builder) forwarded(i int) bool {
	r := b.d.Rows[i]
	p := &r.Frame.Packet
	for _, o := range b.d.Rows[i+1:] {
		if o.T-r.T > forwardWindow {
			return false
		}
		if o.Kind != RowFrame || o.From != r.To || o.To == r.From {
			continue
		}
		q := &o.Frame.Packet
		if q.Proto == p.Proto && q.IPID == p.IPID && q.Seq == p.Seq && q.Ack == p.Ack && q.Flags == p.Flags && q.PayloadLen == p.PayloadLen {
			return true
		}
	}
	return false
}
