package rawsock

import (
	"encoding/binary"
)

// appendICMP prints an ICMP message (RFC 792, RFC 1191) like print-icmp.c without -v.
// length is the ICMP message length from the IP header.
func appendICMP(dst []byte, b []byte, length int) []byte {
	dst = append(dst, " ICMP "...)
	if len(b) < 4 {
		return append(dst, "[|icmp]"...)
	}
	typ, code := b[0], b[1]
	switch typ {
	case 0, 8:
		if len(b) < 8 {
			return append(dst, "[|icmp]"...)
		}
		if typ == 0 {
			dst = append(dst, "echo reply, id "...)
		} else {
			dst = append(dst, "echo request, id "...)
		}
		dst = appendUint(dst, uint64(binary.BigEndian.Uint16(b[4:])))
		dst = append(dst, ", seq "...)
		dst = appendUint(dst, uint64(binary.BigEndian.Uint16(b[6:])))
	case 3:
		dst = appendUnreach(dst, b, code)
	case 11:
		if code == 1 {
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
func icmpTypeName(t byte) string {
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
func appendUnreach(dst []byte, b []byte, code byte) []byte {
	q := b[min(8, len(b)):]
	if len(q) < 20 || q[0]>>4 != 4 {
		return append(dst, "[|icmp]"...)
	}
	qdst := q[16:20]
	qhl := int(q[0]&0x0f) * 4
	switch code {
	case 2:
		dst = appendAddr4(dst, qdst)
		dst = append(dst, " protocol "...)
		dst = appendUint(dst, uint64(q[9]))
		return append(dst, " unreachable"...)
	case 3:
		dst = appendAddr4(dst, qdst)
		switch q[9] {
		case protoTCP:
			dst = append(dst, " tcp port "...)
		case protoUDP:
			dst = append(dst, " udp port "...)
		default:
			dst = append(dst, " protocol "...)
			dst = appendUint(dst, uint64(q[9]))
			dst = append(dst, " port "...)
		}
		if len(q) < qhl+4 {
			return append(dst, "[|icmp]"...)
		}
		dst = appendUint(dst, uint64(binary.BigEndian.Uint16(q[qhl+2:])))
		return append(dst, " unreachable"...)
	case 4:
		dst = appendAddr4(dst, qdst)
		dst = append(dst, " unreachable - need to frag"...)
		if mtu := binary.BigEndian.Uint16(b[6:]); mtu != 0 {
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
func unreachText(code byte) (string, string) {
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
	if len(b) < 4 {
		return append(dst, "[|icmp6]"...)
	}
	typ, code := b[0], b[1]
	switch typ {
	case 128, 129:
		if len(b) < 8 {
			return append(dst, "[|icmp6]"...)
		}
		if typ == 128 {
			dst = append(dst, "echo request, id "...)
		} else {
			dst = append(dst, "echo reply, id "...)
		}
		dst = appendUint(dst, uint64(binary.BigEndian.Uint16(b[4:])))
		dst = append(dst, ", seq "...)
		dst = appendUint(dst, uint64(binary.BigEndian.Uint16(b[6:])))
	case 1:
		dst = appendUnreach6(append(dst, "destination unreachable, "...), b, code)
	case 2:
		dst = append(dst, "packet too big, mtu "...)
		dst = appendUint(dst, uint64(binary.BigEndian.Uint32(b[4:])))
	case 3:
		if code == 1 {
			dst = append(dst, "ip6 reassembly time exceeded"...)
			break
		}
		dst = append(dst, "time exceeded in-transit"...)
		if q := b[min(8, len(b)):]; len(q) >= 40 {
			dst = append(dst, " for "...)
			dst = appendAddr6(dst, q[24:40])
		}
	case 133:
		dst = append(dst, "router solicitation"...)
	case 134:
		dst = append(dst, "router advertisement"...)
	case 135, 136:
		if len(b) < 24 {
			return append(dst, "[|icmp6]"...)
		}
		if typ == 135 {
			dst = append(dst, "neighbor solicitation, who has "...)
		} else {
			dst = append(dst, "neighbor advertisement, tgt is "...)
		}
		dst = appendAddr6(dst, b[8:24])
	case 143:
		dst = append(dst, "multicast listener report v2, "...)
		if len(b) < 8 {
			return append(dst, "[|icmp6]"...)
		}
		dst = appendUint(dst, uint64(binary.BigEndian.Uint16(b[6:])))
		dst = append(dst, " group record(s)"...)
	default:
		dst = append(dst, icmp6TypeName(typ)...)
	}
	return appendLength(dst, length)
}

func icmp6TypeName(t byte) string {
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
func appendUnreach6(dst []byte, b []byte, code byte) []byte {
	q := b[min(8, len(b)):]
	if len(q) < 40 {
		return append(dst, "[|icmp6]"...)
	}
	qdst := q[24:40]
	switch code {
	case 0:
		dst = append(dst, "unreachable route "...)
	case 1:
		dst = append(dst, "unreachable prohibited "...)
	case 2:
		dst = append(dst, "beyond scope "...)
	case 3:
		dst = append(dst, "unreachable address "...)
	case 4:
		dst = append(dst, "unreachable port, "...)
		dst = appendAddr6(dst, qdst)
		switch q[6] {
		case protoTCP:
			dst = append(dst, " tcp port "...)
		case protoUDP:
			dst = append(dst, " udp port "...)
		default:
			dst = append(dst, " protocol "...)
			dst = appendUint(dst, uint64(q[6]))
			dst = append(dst, " port "...)
		}
		if len(q) < 44 {
			return append(dst, "[|icmp6]"...)
		}
		return appendUint(dst, uint64(binary.BigEndian.Uint16(q[42:])))
	default:
		dst = append(dst, "unknown code ("...)
		dst = appendUint(dst, uint64(code))
		return append(dst, ')')
	}
	return appendAddr6(dst, qdst)
}
