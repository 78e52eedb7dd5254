package timeline

import (
	"net/netip"

	"github.com/pktlab/pktlab/rawsock/header"
)

type flowKey struct {
	proto string
	a, b  netip.AddrPort // a < b
}

type flow struct {
	id   int
	base [2]firstSeq // the first sequence number sent by each side: a, b of its key
}

// firstSeq is the first sequence number a side of a flow sent, if it sent one.
type firstSeq struct {
	seq uint32
	ok  bool
}

type flowTable struct {
	byKey map[flowKey]*flow
	next  int
	// last is the flow of the last frame assigned, under lastKey: frames come in runs
	// of one connection, and its key compares faster than it hashes.
	last    *flow
	lastKey flowKey
}

// assign gives a TCP or UDP frame its flow number and, for TCP, sequence and
// acknowledgment numbers relative to each side's first sequence number (its ISN when the
// SYN was captured), as tcpdump prints them.
func (ft *flowTable) assign(f *Frame) {
	p := &f.Packet
	if p.Proto != "tcp" && p.Proto != "udp" {
		return
	}
	src, dst := netip.AddrPortFrom(p.Src, uint16(p.SPort)), netip.AddrPortFrom(p.Dst, uint16(p.DPort))
	k := flowKey{p.Proto, src, dst}
	s, d := 0, 1 // the sides of src and dst in the flow's base
	if src.Compare(dst) > 0 {
		k.a, k.b = dst, src
		s, d = 1, 0
	}
	if src == dst {
		d = s
	}
	fl := ft.last
	if fl == nil || k != ft.lastKey {
		fl = ft.byKey[k]
	}
	if fl == nil || p.Proto == "tcp" && !f.Dup && fl.newConnection(s, p) {
		ft.next++
		fl = &flow{id: ft.next}
		ft.byKey[k] = fl
	}
	ft.last, ft.lastKey = fl, k
	f.Flow = fl.id
	if p.Proto != "tcp" {
		return
	}
	if !fl.base[s].ok {
		fl.base[s] = firstSeq{p.Seq, true}
	}
	f.RelSeq = p.Seq - fl.base[s].seq
	if b := fl.base[d]; b.ok {
		f.RelAck, f.HasRelAck = p.Ack-b.seq, true
	} else {
		// Nothing captured from the other side yet: no base to be relative to.
		f.RelAck = p.Ack
	}
}

// newConnection reports whether a TCP frame on the flow's 4-tuple opens a new
// connection (and so a new flow number): a bare SYN from a side that already sent
// with another sequence number. A bare SYN from the side that has sent nothing yet
// is not one: in a simultaneous open both ends send a bare SYN on one connection
// (RFC 9293 §3.5, Figure 8). A SYN repeated with its sequence number is a
// retransmission. side is the sender's side of the flow.
func (fl *flow) newConnection(side int, p *Packet) bool {
	if p.Flags != header.TCPFlagSYN {
		return false
	}
	base := fl.base[side]
	return base.ok && base.seq != p.Seq
}
