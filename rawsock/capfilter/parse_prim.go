package capfilter

import (
	"net/netip"

	"golang.org/x/net/bpf"
)

// head parses "[pname] [dqual] [aqual] id", a bare pname ("tcp"), or the
// qualified primitives "pname proto N", "pname broadcast|multicast".
func (p *parser) head() (node, qual) {
	start := p.peek()
	q := qual{ok: true}
	if pq, ok := pqualNames[p.peek().text]; ok {
		q.proto = pq
		p.next()
	}
	q.dir = p.dqual()
	switch p.peek().text {
	case "host":
		q.addr = aqHost
	case "net":
		q.addr = aqNet
	case "port":
		q.addr = aqPort
	case "portrange":
		q.addr = aqPortrange
	case "proto":
		if q.dir != dirDefault {
			panic(errAt(p.peek(), "unexpected %v after a direction (expected host, net, port or portrange)", p.peek()))
		}
		p.next()
		return p.protoPrim(q.proto, start), qual{}
	case "broadcast", "multicast":
		if q.dir == dirDefault {
			return p.castPrim(q.proto), qual{}
		}
	}
	if q.addr != aqDefault {
		p.next()
	} else if q.dir == dirDefault {
		if q.proto == pqNone {
			if _, err := netip.ParseAddr(start.text); err == nil {
				panic(errAt(start, "unexpected address %s (write host %s or net %s)", start.text, start.text, start.text))
			}
			panic(errAt(start, "unexpected %v (expected %s)", start, expectedPrimitive))
		}
		return p.protoAbbrev(q.proto, start), qual{}
	}
	return p.id(q), q
}

// dqual parses src, dst, "src or dst", "src and dst" (and dst-first forms).
func (p *parser) dqual() dir {
	t := p.peek().text
	if t != "src" && t != "dst" {
		return dirDefault
	}
	p.next()
	d := dirSrc
	if t == "dst" {
		d = dirDst
	}
	c, other := p.peek(), p.peekAt(1).text
	if (isAnd(c) || isOr(c)) && (other == "src" || other == "dst") && other != t {
		p.next()
		p.next()
		if isAnd(c) {
			return dirAnd
		}
		return dirOr
	}
	return d
}

// protoAbbrev is a protocol name on its own: "ip", "tcp", "arp"…, as libpcap's
// gen_proto_abbrev.
func (p *parser) protoAbbrev(pq pqual, t token) node {
	o := p.o
	if et := pq.etherType(); et != 0 {
		return o.etherType(et)
	}
	switch pq {
	case pqTCP, pqUDP, pqSCTP:
		return o.proto(pq.ipProtocol())
	case pqICMP, pqIGMP:
		return o.ipProto(pq.ipProtocol())
	case pqICMP6:
		return o.ip6Proto(ipProtoICMPv6)
	}
	panic(errAt(t, "%q needs a qualifier here (expected ether host, ether src, ether dst, ether proto, ether broadcast or ether[…])", t.text))
}

// protoPrim is "[ip|ip6|ether] proto N".
func (p *parser) protoPrim(pq pqual, start token) node {
	t := p.peek()
	var v uint32
	if t.text == "\\" && t.kind == tokOp {
		v = p.protoName(pq)
	} else {
		v = p.number()
	}
	o := p.o
	switch pq {
	case pqNone:
		return o.proto(v)
	case pqIP:
		return o.ipProto(v)
	case pqIP6:
		return o.ip6Proto(v)
	case pqLink:
		if v <= 1500 {
			panic(errAt(t, "ether proto %d is an IEEE 802.3 length, not an EtherType: 802.2 LLC protocols are not supported", v))
		}
		// On LinkTypeRaw only IPv4 and IPv6 can match, as with libpcap's DLT_RAW.
		return o.etherType(v)
	}
	panic(errAt(start, "%q cannot qualify proto (expected ip proto, ip6 proto, ether proto or proto)", start.text))
}

// Protocol names usable as "proto \\NAME" (pcap-filter(7): protocol keywords must be
// escaped there). libpcap looks IP protocol names up in /etc/protocols; these are
// the ones that are also filter keywords, so tcpdump agrees on every machine.
var (
	ipProtoNames    = map[string]uint32{"icmp": ipProtoICMP, "igmp": ipProtoIGMP, "tcp": ipProtoTCP, "udp": ipProtoUDP, "sctp": ipProtoSCTP}
	etherProtoNames = map[string]uint32{"ip": etherTypeIPv4, "ip6": etherTypeIPv6, "arp": etherTypeARP, "rarp": etherTypeRARP}
)

func (p *parser) protoName(pq pqual) uint32 {
	p.next() // the backslash
	t := p.next()
	names, kind := ipProtoNames, "an IP protocol name: icmp, igmp, tcp, udp or sctp"
	if pq == pqLink {
		names, kind = etherProtoNames, "an EtherType name: ip, ip6, arp or rarp"
	}
	v, ok := names[t.text]
	if !ok || t.kind != tokWord {
		panic(errAt(t, "unexpected %v (expected %s, or a number)", t, kind))
	}
	return v
}

// castPrim is "[ether|ip|ip6] broadcast|multicast".
func (p *parser) castPrim(pq pqual) node {
	t := p.next()
	o := p.o
	switch {
	case pq == pqNone || pq == pqLink:
		if o.lt == LinkTypeRaw {
			panic(errAt(t, "ether %s needs an Ethernet header; frames of link type %v have none", t.text, o.lt))
		}
		if t.text == "broadcast" {
			return etherAddr(0, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		}
		// IEEE 802.3 §3.2.3: the I/G bit, the low bit of the first octet.
		return abs(0, 1, bpf.JumpBitsSet, 1)
	case pq == pqIP && t.text == "multicast":
		// RFC 1112 §4: class D, 224.0.0.0/4, first byte >= 224.
		return and2(o.etherType(etherTypeIPv4), abs(o.nl+16, 1, bpf.JumpGreaterOrEqual, 224))
	case pq == pqIP6 && t.text == "multicast":
		// RFC 4291 §2.7: ff00::/8.
		return and2(o.etherType(etherTypeIPv6), abs(o.nl+24, 1, bpf.JumpEqual, 0xff))
	case pq == pqIP:
		panic(errAt(t, "ip broadcast needs the interface's netmask, which a compiled filter does not know: use ip dst host ADDR"))
	}
	panic(errAt(t, "%v cannot be qualified by %v", t, pq))
}

// vlan is "vlan [id]". libpcap's gen_vlan moves the link-type and network-layer
// offsets 4 bytes on for the rest of the expression; so does this.
func (p *parser) vlan() node {
	t := p.next()
	if p.o.lt == LinkTypeRaw {
		panic(errAt(t, "vlan needs an Ethernet header; frames of link type %v have none (and the kernel strips VLAN tags before packet sockets see them)", p.o.lt))
	}
	id := -1
	if nt := p.peek(); nt.kind == tokWord && isNumber(nt.text) {
		v := p.number()
		if v > 4095 {
			panic(errAt(nt, "VLAN ID %d is larger than 4095", v))
		}
		id = int(v)
	}
	n := p.o.vlan(id)
	p.o.linkType += 4
	p.o.nl += 4
	return n
}

// id parses a value, "not id" or a parenthesised list of ids, all under q.
func (p *parser) id(q qual) node {
	t := p.peek()
	if isNot(t) {
		p.enter(p.next())
		n := not1(p.id(q))
		p.leave()
		return n
	}
	if t.text == "(" && t.kind == tokOp {
		p.enter(p.next())
		n := p.id(q)
		for {
			c := p.peek()
			if !isAnd(c) && !isOr(c) {
				break
			}
			p.next()
			r := p.id(q)
			if isAnd(c) {
				n = and2(n, r)
			} else {
				n = or2(n, r)
			}
		}
		p.expect(")")
		p.leave()
		return n
	}
	if t.kind != tokWord || isKeyword(t.text) {
		panic(errAt(t, "unexpected %v (expected %s)", t, expectedValue(q)))
	}
	p.next()
	return p.value(q, t)
}

func expectedValue(q qual) string {
	switch q.addr {
	case aqPort:
		return "a port number"
	case aqPortrange:
		return "a port range such as 1024-65535"
	case aqNet:
		return "a network such as 198.18.0.0/15 or 2001:db8::/32"
	}
	if q.proto == pqLink {
		return "a MAC address such as 02:00:00:00:00:01"
	}
	return "an IPv4 or IPv6 address"
}
