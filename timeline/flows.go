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
	if fl == nil || (p.Proto == "tcp" && p.Flags == header.TCPFlagSYN && fl.base[src] != p.Seq && !f.Dup) {
		// A new SYN on a known 4-tuple starts a new connection (and a new flow number).
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
