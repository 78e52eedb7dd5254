package capfilter

import (
	"golang.org/x/net/bpf"
)

// EtherType values (IEEE 802 numbers, /usr/include/net/ethernet.h).
const (
	etherTypeIPv4  = 0x0800
	etherTypeARP   = 0x0806
	etherTypeRARP  = 0x8035
	etherTypeIPv6  = 0x86dd
	etherTypeVLAN  = 0x8100 // IEEE 802.1Q
	etherTypeQinQ  = 0x88a8 // IEEE 802.1ad
	etherTypeQinQ1 = 0x9100 // pre-standard QinQ, which libpcap also accepts
)

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
const (
	ipProtoICMP     = 1
	ipProtoIGMP     = 2
	ipProtoTCP      = 6
	ipProtoUDP      = 17
	ipProtoFragment = 44 // RFC 8200 §4.5 IPv6 Fragment header
	ipProtoICMPv6   = 58
	ipProtoSCTP     = 132
)

// offsets holds where layers start for the link type, shifted by each "vlan"
// already parsed (libpcap gen_vlan: the shift applies to the rest of the expression).
type offsets struct {
	lt       LinkType
	linkType uint32 // offset of the EtherType field (Ethernet only)
	nl       uint32 // offset of the network-layer header
}

func newOffsets(lt LinkType) offsets {
	if lt == LinkTypeRaw {
		return offsets{lt: lt}
	}
	return offsets{lt: lt, linkType: 12, nl: 14}
}

func abs(off uint32, size int, cond bpf.JumpTest, val uint32) *testNode {
	return &testNode{ld: load{mode: loadAbs, off: off, size: size}, cond: cond, val: val}
}

// etherType tests the frame's network protocol. On LinkTypeRaw only IPv4 and IPv6
// exist, told apart by the version nibble (RFC 791 §3.1, RFC 8200 §3), as libpcap
// does for DLT_RAW; every other EtherType is constant false.
func (o offsets) etherType(t uint32) node {
	if o.lt == LinkTypeRaw {
		var v uint32
		switch t {
		case etherTypeIPv4:
			v = 0x40
		case etherTypeIPv6:
			v = 0x60
		default:
			return constNode(false)
		}
		n := abs(0, 1, bpf.JumpEqual, v)
		n.mask = 0xf0
		return n
	}
	return abs(o.linkType, 2, bpf.JumpEqual, t)
}

// ipProto: IPv4 with protocol p (RFC 791 §3.1 Protocol, byte 9).
func (o offsets) ipProto(p uint32) node {
	return and2(o.etherType(etherTypeIPv4), abs(o.nl+9, 1, bpf.JumpEqual, p))
}

// ip6ProtoDirect: IPv6 whose Next Header (byte 6, RFC 8200 §3) is p.
func (o offsets) ip6ProtoDirect(p uint32) node {
	return and2(o.etherType(etherTypeIPv6), abs(o.nl+6, 1, bpf.JumpEqual, p))
}

// ip6Proto: IPv6 carrying p directly or after one fragment header, as libpcap 1.10's
// gen_proto for Q_IPV6 (the fragment header's Next Header is its first byte).
func (o offsets) ip6Proto(p uint32) node {
	return and2(o.etherType(etherTypeIPv6), or2(
		abs(o.nl+6, 1, bpf.JumpEqual, p),
		and2(abs(o.nl+6, 1, bpf.JumpEqual, ipProtoFragment), abs(o.nl+40, 1, bpf.JumpEqual, p))))
}

// proto: "proto p" with no qualifier, IPv4 or IPv6.
func (o offsets) proto(p uint32) node { return or2(o.ipProto(p), o.ip6Proto(p)) }

// ipFirstFragment holds for IPv4 packets whose Fragment Offset (RFC 791 §3.1, low 13
// bits of bytes 6-7) is zero: the first fragment or an unfragmented packet. Only
// these carry the transport header.
func (o offsets) ipFirstFragment() node {
	return not1(abs(o.nl+6, 2, bpf.JumpBitsSet, 0x1fff))
}

// dirTest combines a source and destination test as the dir qualifier says.
func dirTest(d dir, src, dst func() node) node {
	switch d {
	case dirSrc:
		return src()
	case dirDst:
		return dst()
	case dirAnd:
		return and2(src(), dst())
	default:
		return or2(src(), dst())
	}
}

// portRange is a test of one 16-bit port field against [lo, hi].
type portTest func(ld load) node

func eqPort(p uint32) portTest {
	return func(ld load) node { return &testNode{ld: ld, cond: bpf.JumpEqual, val: p} }
}

func rangePort(lo, hi uint32) portTest {
	if lo > hi {
		lo, hi = hi, lo
	}
	if lo == hi {
		return eqPort(lo)
	}
	return func(ld load) node {
		return and2(&testNode{ld: ld, cond: bpf.JumpGreaterOrEqual, val: lo},
			not1(&testNode{ld: ld, cond: bpf.JumpGreaterThan, val: hi}))
	}
}

// transportProtos lists the protocols "port" applies to when none is given,
// in libpcap's order (gencode.c gen_port: sctp, tcp, udp).
func transportProtos(p uint32) []uint32 {
	if p != 0 {
		return []uint32{p}
	}
	return []uint32{ipProtoSCTP, ipProtoTCP, ipProtoUDP}
}

// port4: IPv4 first fragments of protocol p (0 = tcp, udp or sctp) whose ports pass
// pt. Source port is at payload offset 0, destination at 2 (RFC 9293 §3.1, RFC 768).
func (o offsets) port4(p uint32, d dir, pt portTest) node {
	var protos node = constNode(false)
	for _, q := range transportProtos(p) {
		protos = or2(protos, abs(o.nl+9, 1, bpf.JumpEqual, q))
	}
	tr := func(off uint32) func() node {
		return func() node { return pt(load{mode: loadTransport4, nl: o.nl, off: off, size: 2}) }
	}
	return and2(o.etherType(etherTypeIPv4),
		and2(and2(protos, o.ipFirstFragment()), dirTest(d, tr(0), tr(2))))
}

// port6: IPv6 packets whose Next Header is p (0 = tcp, udp or sctp) and whose ports,
// right after the 40-byte fixed header, pass pt (libpcap gen_port6).
func (o offsets) port6(p uint32, d dir, pt portTest) node {
	var protos node = constNode(false)
	for _, q := range transportProtos(p) {
		protos = or2(protos, abs(o.nl+6, 1, bpf.JumpEqual, q))
	}
	tr := func(off uint32) func() node {
		return func() node { return pt(load{mode: loadAbs, off: o.nl + 40 + off, size: 2}) }
	}
	return and2(o.etherType(etherTypeIPv6), and2(protos, dirTest(d, tr(0), tr(2))))
}

// portNode is "[proto] [dir] port|portrange" over one or more port tests, kept whole
// until code generation so that or2 can merge "port 80 or port 443" into one
// protocol check followed by both port comparisons, as libpcap's optimizer does.
type portNode struct {
	o     offsets
	proto uint32
	dir   dir
	tests []portTest
}

func (*portNode) isNode() {}

func (o offsets) port(p uint32, d dir, pt portTest) node {
	return &portNode{o: o, proto: p, dir: d, tests: []portTest{pt}}
}

func mergePorts(l, r node) (node, bool) {
	a, ok1 := l.(*portNode)
	b, ok2 := r.(*portNode)
	if !ok1 || !ok2 || a.o != b.o || a.proto != b.proto || a.dir != b.dir || a.dir == dirAnd {
		return nil, false
	}
	tests := append(append([]portTest(nil), a.tests...), b.tests...)
	return &portNode{o: a.o, proto: a.proto, dir: a.dir, tests: tests}, true
}

func (n *portNode) lower() node {
	anyOf := func(ld load) node {
		var r node = constNode(false)
		for _, t := range n.tests {
			r = or2(r, t(ld))
		}
		return r
	}
	return or2(n.o.port4(n.proto, n.dir, anyOf), n.o.port6(n.proto, n.dir, anyOf))
}

// hostWords compares len(addr)/4 32-bit words at off with addr under mask; words
// whose mask is zero are skipped, as libpcap's optimizer drops them.
func hostWords(off uint32, addr, mask []byte) node {
	var n node = constNode(true)
	for i := 0; i+4 <= len(addr); i += 4 {
		m := be32(mask[i:])
		if m == 0 {
			continue
		}
		t := abs(off+uint32(i), 4, bpf.JumpEqual, be32(addr[i:])&m)
		if m != 0xffffffff {
			t.mask = m
		}
		n = and2(n, t)
	}
	return n
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// host4Node tests IPv4 source/destination (RFC 791 bytes 12 and 16) on IPv4, and
// sender/target protocol address (RFC 826, bytes 14 and 24 of an Ethernet/IPv4 ARP
// packet) on ARP and RARP, against any of addrs under one mask.
//
// It is kept as one node until code generation so that or2 can merge
// "host a or host b": libpcap's optimizer (optimize.c or_pullup) turns that into
// "src is a or b, or dst is a or b", which reads the source address only, and
// therefore accepts frames cut short before the destination that the literal
// order would reject.
type host4Node struct {
	o     offsets
	proto pqual
	dir   dir
	mask  []byte
	addrs [][]byte
}

func (*host4Node) isNode() {}

func (o offsets) host4(proto pqual, d dir, addr, mask []byte) node {
	if (proto == pqARP || proto == pqRARP) && o.lt == LinkTypeRaw {
		return constNode(false) // no ARP without a link layer
	}
	return &host4Node{o: o, proto: proto, dir: d, mask: mask, addrs: [][]byte{addr}}
}

// mergeHost4 merges two host4Nodes that libpcap's or_pullup would group.
func mergeHost4(l, r node) (node, bool) {
	a, ok1 := l.(*host4Node)
	b, ok2 := r.(*host4Node)
	if !ok1 || !ok2 || a.o != b.o || a.proto != b.proto || a.dir != b.dir ||
		(a.dir != dirDefault && a.dir != dirOr) || be32(a.mask) != be32(b.mask) {
		return nil, false
	}
	addrs := append(append([][]byte(nil), a.addrs...), b.addrs...)
	return &host4Node{o: a.o, proto: a.proto, dir: a.dir, mask: a.mask, addrs: addrs}, true
}

// lower expands the node into tests.
func (h *host4Node) lower() node {
	o := h.o
	any := func(off uint32) func() node {
		return func() node {
			var n node = constNode(false)
			for _, a := range h.addrs {
				n = or2(n, hostWords(off, a, h.mask))
			}
			return n
		}
	}
	one := func(et uint32, srcOff, dstOff uint32) node {
		return and2(o.etherType(et), dirTest(h.dir, any(o.nl+srcOff), any(o.nl+dstOff)))
	}
	switch h.proto {
	case pqIP:
		return one(etherTypeIPv4, 12, 16)
	case pqARP:
		return one(etherTypeARP, 14, 24)
	case pqRARP:
		return one(etherTypeRARP, 14, 24)
	}
	return or2(or2(one(etherTypeIPv4, 12, 16), one(etherTypeARP, 14, 24)), one(etherTypeRARP, 14, 24))
}

// host6 tests IPv6 source/destination (RFC 8200 §3, bytes 8 and 24).
func (o offsets) host6(d dir, addr, mask []byte) node {
	return and2(o.etherType(etherTypeIPv6), dirTest(d,
		func() node { return hostWords(o.nl+8, addr, mask) },
		func() node { return hostWords(o.nl+24, addr, mask) }))
}

// etherAddr compares the 6-byte MAC at off, last four bytes first, as libpcap's
// gen_bcmp does.
func etherAddr(off uint32, mac []byte) node {
	return and2(abs(off+2, 4, bpf.JumpEqual, be32(mac[2:])),
		abs(off, 2, bpf.JumpEqual, uint32(mac[0])<<8|uint32(mac[1])))
}

// etherHost: source MAC at 6, destination at 0 (IEEE 802.3 §3.1.1).
func etherHost(d dir, mac []byte) node {
	return dirTest(d, func() node { return etherAddr(6, mac) }, func() node { return etherAddr(0, mac) })
}

// vlan tests for an 802.1Q/802.1ad tag at the current EtherType offset, and its VLAN
// ID (low 12 bits of the TCI) when id >= 0. The caller shifts offsets afterwards.
func (o offsets) vlan(id int) node {
	n := or2(or2(abs(o.linkType, 2, bpf.JumpEqual, etherTypeVLAN),
		abs(o.linkType, 2, bpf.JumpEqual, etherTypeQinQ)),
		abs(o.linkType, 2, bpf.JumpEqual, etherTypeQinQ1))
	if id >= 0 {
		t := abs(o.linkType+2, 2, bpf.JumpEqual, uint32(id))
		t.mask = 0x0fff
		n = and2(n, t)
	}
	return n
}
