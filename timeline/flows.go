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
	base map[netip.AddrPort]uint32 // first sequence number sent by each side
}

type flowTable struct {
	byKey map[flowKey]*flow
	next  int
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
	if src.Compare(dst) > 0 {
		k.a, k.b = dst, src
	}
	fl := ft.byKey[k]
	if fl == nil || p.Proto == "tcp" && !f.Dup && fl.newConnection(src, p) {
		ft.next++
		fl = &flow{id: ft.next, base: map[netip.AddrPort]uint32{}}
		ft.byKey[k] = fl
	}
	f.Flow = fl.id
	if p.Proto != "tcp" {
		return
	}
	if _, ok := fl.base[src]; !ok {
		fl.base[src] = p.Seq
	}
	f.RelSeq = p.Seq - fl.base[src]
	if b, ok := fl.base[dst]; ok {
		f.RelAck, f.HasRelAck = p.Ack-b, true
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
// retransmission.
func (fl *flow) newConnection(src netip.AddrPort, p *Packet) bool {
	if p.Flags != header.TCPFlagSYN {
		return false
	}
	base, ok := fl.base[src]
	return ok && base != p.Seq
}
