package picture

import (
	"net/netip"
	"strings"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/timeline"
)

// dropWindow is how long after a frame arrived the kernel's drop of it is looked for.
const dropWindow = 20 * time.Millisecond

// kernel adds the row of a kernel TCP event (package ktrace's, on the timeline):
// a retransmission, a RST sent or received, a packet dropped with the kernel's
// reason, in a few words under the lane of its node, with the ends of its
// connection so that a ladder draws it in its flow's. A drop of a frame that had
// arrived at that node also ends the frame's arrow in an X. A drop of link-local
// chatter (timeline.Chatter), and one of neither a packet nor a socket (a queue
// purged), say nothing of a connection and make no row.
func (b *builder) kernel(e timeline.Event, r Row) {
	if d, ok := e.Data.(*timeline.Drop); ok && (timeline.Chatter(e) || d.Packet == nil && !d.Local.IsValid()) {
		return
	}
	r.Kind = RowKernel
	if e.Node != "" {
		r.From = b.lane(e.Node, true)
	}
	switch d := e.Data.(type) {
	case *timeline.Retransmit:
		r.Ends, r.Short = [2]netip.AddrPort{d.Local, d.Remote}, b.retransmitText(d)
	case *timeline.Reset:
		// A listener's socket has no remote end: the segment it answers says whose.
		r.Ends, r.Short = packetEnds(d.Packet, d.Local, d.Remote), resetText(d)
	case *timeline.Drop:
		r.Ends, r.Short = packetEnds(d.Packet, d.Local, d.Remote), "drop "+d.Reason
		if !b.markDrop(r, d) && d.Packet != nil && d.Packet.Proto == 6 {
			r.Short += " " + b.packetText(d.Packet)
		}
	}
	b.d.Rows = append(b.d.Rows, r)
}

// learnISN keeps the first sequence number each side of a TCP flow sent, to write
// the kernel's sequence numbers relative to it as the arrows do. index learns the
// first connection's of each 4-tuple (a kernel event may come before its flow's
// first frame: a SYN dropped on its way out); each frame, in time order, the one
// of the connection it is of.
func (b *builder) learnISN(f *timeline.Frame, first bool) {
	p := &f.Packet
	if p.Proto != "tcp" || f.Flow == 0 || f.Dup {
		return
	}
	if b.isn == nil {
		b.isn = map[[2]netip.AddrPort]uint32{}
	}
	k := [2]netip.AddrPort{netip.AddrPortFrom(p.Src, uint16(p.SPort)), netip.AddrPortFrom(p.Dst, uint16(p.DPort))}
	if _, ok := b.isn[k]; !ok || !first {
		b.isn[k] = p.Seq - f.RelSeq
	}
}

// rel is seq relative to the first sequence number src sent to dst, or seq itself
// when no frame of theirs was seen.
func (b *builder) rel(src, dst netip.AddrPort, seq uint32) uint32 {
	if isn, ok := b.isn[[2]netip.AddrPort{src, dst}]; ok {
		return seq - isn
	}
	return seq
}

// retransmitText is "retransmit SYN seq 0, ca Loss", "retransmit PSH seq 1001 len
// 1000, ca Recovery": the segment as its arrow says it, and the sender's congestion
// state (Loss after a timeout, Recovery in fast recovery).
func (b *builder) retransmitText(d *timeline.Retransmit) string {
	if d.SynAck {
		return "retransmit SYN-ACK"
	}
	n := int(d.EndSeq - d.Seq)
	if d.Flags&(header.TCPFlagSYN|header.TCPFlagFIN) != 0 {
		n-- // the flag's sequence number, not data
	}
	w := append([]string{"retransmit"}, segmentWords(d.Flags, b.rel(d.Local, d.Remote, d.Seq), 0, max(n, 0), false)...)
	s := strings.Join(w, " ")
	if d.CA != "" {
		s += ", ca " + d.CA
	}
	return s
}

// resetText is "sent RST in LISTEN, TCP_FLAGS" or "received RST in ESTABLISHED".
func resetText(d *timeline.Reset) string {
	s := "received RST"
	if d.Sent {
		s = "sent RST"
	}
	if d.State != "" {
		s += " in " + d.State
	}
	if d.Reason != "" {
		s += ", " + d.Reason
	}
	return s
}

// packetText is a dropped TCP segment's short form, with relative numbers where its
// flow's frames give them.
func (b *builder) packetText(p *timeline.KernelPacket) string {
	src, dst := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
	return strings.Join(segmentWords(p.Flags, b.rel(src, dst, p.Seq), b.rel(dst, src, p.Ack), 0, true), " ")
}

// packetEnds are the ends of a TCP or UDP packet's connection, else the socket's.
func packetEnds(p *timeline.KernelPacket, local, remote netip.AddrPort) [2]netip.AddrPort {
	if p == nil || p.Proto != 6 && p.Proto != 17 {
		return [2]netip.AddrPort{local, remote}
	}
	return [2]netip.AddrPort{netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)}
}

// didItsWork are the drop reasons (enum skb_drop_reason) of a packet freed after
// the kernel read what it came for, or of no packet on its way in: such a free is
// not where a frame died. NOT_SPECIFIED is what a TIME_WAIT socket's answered FIN
// and plain kfree_skb calls give; TCP_OLD_DATA a segment whose ACK was taken and
// whose data was had already (the SYN-ACK of a simultaneous open, a spurious
// retransmission); TCP_OFOMERGE one merged into the out-of-order queue.
var didItsWork = map[string]bool{"NOT_SPECIFIED": true, "TCP_OLD_DATA": true, "TCP_OFOMERGE": true,
	"QUEUE_PURGE": true, "SOCKET_CLOSE": true}

// markDrop ends in an X the arrow of the frame the kernel dropped: the latest frame
// into the dropping node, shortly before, with the packet's addresses, ports and
// TCP numbers, unless the reason says the frame did its work (didItsWork).
func (b *builder) markDrop(r Row, d *timeline.Drop) bool {
	p := d.Packet
	if p == nil || r.From < 0 || didItsWork[d.Reason] {
		return false
	}
	rows := b.d.Rows
	for i := len(rows) - 1; i >= 0 && r.T-rows[i].T <= dropWindow; i-- {
		f := &rows[i]
		if f.Kind != RowFrame || f.To != r.From || f.Drop != "" || f.Lost {
			continue
		}
		q := &f.Frame.Packet
		if q.Src == p.Src && q.Dst == p.Dst && q.SPort == int(p.SrcPort) && q.DPort == int(p.DstPort) &&
			(p.Proto != 6 || q.Proto == "tcp" && q.Seq == p.Seq && q.Ack == p.Ack && q.Flags == p.Flags) {
			f.Drop = r.Short
			return true
		}
	}
	return false
}

// about reports whether a kernel row is about a connection between a and b: both
// its ends are theirs, a port of 0 (the kernel did not say it) matching any.
func (r Row) about(a, b netip.AddrPort) bool {
	same := func(x, y netip.AddrPort) bool {
		return x.Addr().Unmap() == y.Addr().Unmap() && (x.Port() == 0 || x.Port() == y.Port())
	}
	e := r.Ends
	if !e[0].Addr().IsValid() || !e[1].Addr().IsValid() {
		return false
	}
	return same(e[0], a) && same(e[1], b) || same(e[0], b) && same(e[1], a)
}
