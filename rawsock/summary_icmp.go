package rawsock

import (
	"github.com/pktlab/pktlab/rawsock/header"
)

// appendICMP prints an ICMP message (RFC 792, RFC 1191) like print-icmp.c without -v.
// length is the ICMP message length from the IP header.
func appendICMP(dst []byte, b []byte, length int) []byte {
	dst = append(dst, " ICMP "...)
	if len(b) < 4 {
		return append(dst, "[|icmp]"...)
	}
	m := header.ICMPv4(b) // type and code; the rest as far as checked
	typ, code := m.Type(), m.Code()
	switch typ {
	case header.ICMPv4EchoReply, header.ICMPv4EchoRequest:
		if len(b) < header.ICMPv4MinLen {
			return append(dst, "[|icmp]"...)
		}
		if typ == header.ICMPv4EchoReply {
			dst = append(dst, "echo reply, id "...)
		} else {
			dst = append(dst, "echo request, id "...)
		}
		dst = appendUint(dst, uint64(m.ID()))
		dst = append(dst, ", seq "...)
		dst = appendUint(dst, uint64(m.Seq()))
	case header.ICMPv4Unreachable:
		dst = appendUnreach(dst, m, code)
	case header.ICMPv4TimeExceeded:
		if code == header.ICMPv4ReassemblyExceeded {
			dst = append(dst, "ip reassembly time exceeded"...)
		} else {
			dst = append(dst, "time exceeded in-transit"...)
		}
	default:
		dst = append(dst, icmpTypeName(typ)...)
	}
	return appendLength(dst, length)
}

// icmpTypeName is tcpdump's name for the other ICMP types.
func icmpTypeName(t header.ICMPv4Type) string {
	switch t {
	case 4:
		return "source quench"
	case 5:
		return "redirect"
	case 9:
		return "router advertisement"
	case 10:
		return "router solicitation"
	case 12:
		return "parameter problem"
	case 13:
		return "time stamp request"
	case 14:
		return "time stamp reply"
	}
	return "type-#" + itoa(int(t))
}

// appendUnreach prints destination unreachable, naming the quoted packet's
// destination (RFC 792: the payload starts with the original IP header).
func appendUnreach(dst []byte, m header.ICMPv4, code header.ICMPv4Code) []byte {
	b := []byte(m)
	q := b[min(8, len(b)):]
	if len(q) < header.IPv4MinLen || q[0]>>4 != 4 {
		return append(dst, "[|icmp]"...)
	}
	qip := header.IPv4(q) // the quoted header (RFC 792), as far as it goes
	qdst := qip.DstBytes()
	qhl := qip.HeaderLen()
	switch code {
	case header.ICMPv4ProtoUnreachable:
		dst = appendAddr4(dst, qdst)
		dst = append(dst, " protocol "...)
		dst = appendUint(dst, uint64(qip.Protocol()))
		return append(dst, " unreachable"...)
	case header.ICMPv4PortUnreachable:
		dst = appendAddr4(dst, qdst)
		switch qip.Protocol() {
		case protoTCP:
			dst = append(dst, " tcp port "...)
		case protoUDP:
			dst = append(dst, " udp port "...)
		default:
			dst = append(dst, " protocol "...)
			dst = appendUint(dst, uint64(qip.Protocol()))
			dst = append(dst, " port "...)
		}
		if len(q) < qhl+4 {
			return append(dst, "[|icmp]"...)
		}
		dst = appendUint(dst, uint64(header.UDP(q[qhl:]).DstPort())) // TCP and UDP alike
		return append(dst, " unreachable"...)
	case header.ICMPv4FragNeeded:
		dst = appendAddr4(dst, qdst)
		dst = append(dst, " unreachable - need to frag"...)
		if mtu := m.MTU(); mtu != 0 {
			dst = append(dst, " (mtu "...)
			dst = appendUint(dst, uint64(mtu))
			dst = append(dst, ')')
		}
		return dst
	}
	pre, post := unreachText(code)
	dst = append(dst, pre...)
	dst = appendAddr4(dst, qdst)
	return append(dst, post...)
}

// unreachText is the text around the address for the other codes (RFC 792, RFC 1812
// §5.2.7.1), as print-icmp.c words them.
func unreachText(code header.ICMPv4Code) (string, string) {
	switch code {
	case 0:
		return "net ", " unreachable"
	case 1:
		return "host ", " unreachable"
	case 5:
		return "", " unreachable - source route failed"
	case 6:
		return "net ", " unreachable - unknown"
	case 7:
		return "host ", " unreachable - unknown"
	case 8:
		return "", " unreachable - source host isolated"
	case 9:
		return "net ", " unreachable - admin prohibited"
	case 10:
		return "host ", " unreachable - admin prohibited"
	case 11:
		return "net ", " unreachable - tos prohibited"
	case 12:
		return "host ", " unreachable - tos prohibited"
	case 13:
		return "host ", " unreachable - admin prohibited filter"
	case 14:
		return "host ", " unreachable - host precedence violation"
	case 15:
		return "host ", " unreachable - precedence cutoff"
	}
	return "#" + itoa(int(code)) + " ", " unreachable"
}

// appendICMPv6 prints an ICMPv6 message (RFC 4443, RFC 4861, RFC 3810) like
// print-icmp6.c without -v.
func appendICMPv6(dst []byte, b []byte, length int) []byte {
	dst = append(dst, "ICMP6, "...)
	if len(b) < 8 { // every message has type, code, checksum and a 4-byte field
		return append(dst, "[|icmp6]"...)
	}
	m := header.ICMPv6(b)
	typ, code := m.Type(), m.Code()
	switch typ {
	case header.ICMPv6EchoRequest, header.ICMPv6EchoReply:
		if typ == header.ICMPv6EchoRequest {
			dst = append(dst, "echo request, id "...)
		} else {
			dst = append(dst, "echo reply, id "...)
		}
		dst = appendUint(dst, uint64(m.ID()))
		dst = append(dst, ", seq "...)
		dst = appendUint(dst, uint64(m.Seq()))
	case header.ICMPv6Unreachable:
		dst = appendUnreach6(append(dst, "destination unreachable, "...), b, code)
	case header.ICMPv6PacketTooBig:
		dst = append(dst, "packet too big, mtu "...)
		dst = appendUint(dst, uint64(m.MTU()))
	case header.ICMPv6TimeExceeded:
		if code == header.ICMPv6ReassemblyTime {
			dst = append(dst, "ip6 reassembly time exceeded"...)
			break
		}
		dst = append(dst, "time exceeded in-transit"...)
		if q := m.Payload(); len(q) >= header.IPv6Len {
			dst = append(dst, " for "...)
			dst = appendAddr6(dst, header.IPv6(q).DstBytes())
		}
	case header.ICMPv6RouterSolicit:
		dst = append(dst, "router solicitation"...)
	case header.ICMPv6RouterAdvert:
		dst = append(dst, "router advertisement"...)
	case header.ICMPv6NeighborSolicit, header.ICMPv6NeighborAdvert:
		target, ok := m.Target()
		if !ok {
			return append(dst, "[|icmp6]"...)
		}
		if typ == header.ICMPv6NeighborSolicit {
			dst = append(dst, "neighbor solicitation, who has "...)
		} else {
			dst = append(dst, "neighbor advertisement, tgt is "...)
		}
		dst = target.AppendTo(dst)
	case header.ICMPv6MLDv2Report:
		dst = append(dst, "multicast listener report v2, "...)
		dst = appendUint(dst, uint64(m.Rest()&0xffff)) // Nr of Mcast Address Records (RFC 3810 §5.2)
		dst = append(dst, " group record(s)"...)
	default:
		dst = append(dst, icmp6TypeName(typ)...)
	}
	return appendLength(dst, length)
}

func icmp6TypeName(t header.ICMPv6Type) string {
	switch t {
	case 4:
		return "parameter problem"
	case 130:
		return "multicast listener query"
	case 131:
		return "multicast listener report"
	case 132:
		return "multicast listener done"
	case 137:
		return "redirect"
	}
	return "type-#" + itoa(int(t))
}

// appendUnreach6 prints a destination unreachable code and the quoted destination.
func appendUnreach6(dst []byte, b []byte, code header.ICMPv6Code) []byte {
	q := header.ICMPv6(b).Payload()
	if len(q) < header.IPv6Len {
		return append(dst, "[|icmp6]"...)
	}
	qip := header.IPv6(q) // the quoted packet (RFC 4443 §3.1)
	qdst := qip.DstBytes()
	switch code {
	case header.ICMPv6NoRoute:
		dst = append(dst, "unreachable route "...)
	case header.ICMPv6AdminProhibited:
		dst = append(dst, "unreachable prohibited "...)
	case header.ICMPv6BeyondScope:
		dst = append(dst, "beyond scope "...)
	case header.ICMPv6AddrUnreachable:
		dst = append(dst, "unreachable address "...)
	case header.ICMPv6PortUnreachable:
		dst = append(dst, "unreachable port, "...)
		dst = appendAddr6(dst, qdst)
		switch qip.NextHeader() {
		case protoTCP:
			dst = append(dst, " tcp port "...)
		case protoUDP:
			dst = append(dst, " udp port "...)
		default:
			dst = append(dst, " protocol "...)
			dst = appendUint(dst, uint64(qip.NextHeader()))
			dst = append(dst, " port "...)
		}
		if len(q) < header.IPv6Len+4 {
			return append(dst, "[|icmp6]"...)
		}
		return appendUint(dst, uint64(header.UDP(qip.Payload()).DstPort()))
	default:
		dst = append(dst, "unknown code ("...)
		dst = appendUint(dst, uint64(code))
		return append(dst, ')')
	}
	return appendAddr6(dst, qdst)
}
