package rawsock

import (
	"encoding/binary"
	"strconv"
)

// IP protocol numbers the summaries dissect (IANA protocol numbers).
const (
	protoHopByHop = 0
	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
	protoFragment = 44
	protoICMPv6   = 58
	protoNone6    = 59
)

// ipCtx is what a transport printer needs from the IP header before it.
type ipCtx struct {
	v6       bool
	src, dst []byte // addresses, 4 or 16 bytes
	direct   bool   // the transport header follows the fixed IP header directly
}

func (c *ipCtx) appendSrc(dst []byte) []byte {
	if c.v6 {
		return appendAddr6(dst, c.src)
	}
	return appendAddr4(dst, c.src)
}

func (c *ipCtx) appendDst(dst []byte) []byte {
	if c.v6 {
		return appendAddr6(dst, c.dst)
	}
	return appendAddr4(dst, c.dst)
}

// appendAddrs appends "src > dst:".
func (c *ipCtx) appendAddrs(dst []byte) []byte {
	dst = c.appendSrc(dst)
	dst = append(dst, " > "...)
	dst = c.appendDst(dst)
	return append(dst, ':')
}

// appendPorts appends "src.sport > dst.dport: " when the transport header follows
// the IP header directly, and "sport > dport: " after extension headers, as tcpdump
// does.
func (c *ipCtx) appendPorts(dst []byte, sport, dport uint16) []byte {
	if c.direct {
		dst = c.appendSrc(dst)
		dst = append(dst, '.')
	}
	dst = appendUint(dst, uint64(sport))
	dst = append(dst, " > "...)
	if c.direct {
		dst = c.appendDst(dst)
		dst = append(dst, '.')
	}
	dst = appendUint(dst, uint64(dport))
	return append(dst, ": "...)
}

// appendIPv4 prints an IPv4 packet (RFC 791) and what it carries.
func (s *Summarizer) appendIPv4(dst []byte, b []byte) []byte {
	if len(b) < 20 {
		return append(dst, "[|ip]"...)
	}
	if v := b[0] >> 4; v != 4 {
		dst = append(dst, "IP"...)
		dst = appendUint(dst, uint64(v))
		return append(dst, " [|ip]"...)
	}
	hlen := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if hlen < 20 {
		dst = append(dst, "bad-hlen "...)
		return appendUint(dst, uint64(hlen))
	}
	if total < hlen {
		dst = append(dst, "[total length "...)
		dst = appendUint(dst, uint64(total))
		dst = append(dst, " < header length "...)
		dst = appendUint(dst, uint64(hlen))
		return append(dst, ']')
	}
	if len(b) < hlen {
		return append(dst, "[|ip]"...)
	}
	// Field by field: a composite literal is built in a temporary and copied with
	// 16-byte moves that stall on the 8-byte stores just made (store forwarding),
	// ≈ 10 ns a line.
	var c ipCtx
	c.src, c.dst, c.direct = b[12:16], b[16:20], true
	proto := b[9]
	payload := b[hlen:min(total, len(b))]
	length := total - hlen
	if off := binary.BigEndian.Uint16(b[6:]) & 0x1fff; off != 0 {
		// Not the first fragment: no transport header to print (print-ip.c).
		dst = c.appendAddrs(dst)
		dst = append(dst, " ip-proto-"...)
		return appendUint(dst, uint64(proto))
	}
	return s.appendTransport(dst, &c, proto, payload, length)
}

// appendTransport prints the transport of an IP packet; length is its length
// according to the IP header, payload the bytes captured.
func (s *Summarizer) appendTransport(dst []byte, c *ipCtx, proto byte, payload []byte, length int) []byte {
	switch proto {
	case protoTCP:
		return s.appendTCP(dst, c, payload, length)
	case protoUDP:
		return appendUDP(dst, c, payload, length)
	case protoICMP:
		if !c.v6 {
			return appendICMP(c.appendAddrs(dst), payload, length)
		}
	case protoICMPv6:
		if c.v6 {
			return appendICMPv6(dst, payload, length)
		}
	}
	if c.direct {
		dst = c.appendAddrs(dst)
	}
	dst = append(dst, " ip-proto-"...)
	dst = appendUint(dst, uint64(proto))
	dst = append(dst, ' ')
	return appendUint(dst, uint64(length))
}

// appendUDP prints a UDP header (RFC 768): ports and payload length.
func appendUDP(dst []byte, c *ipCtx, b []byte, length int) []byte {
	if len(b) < 8 {
		if c.direct {
			dst = c.appendAddrs(dst)
		}
		return append(dst, " [|udp]"...)
	}
	dst = c.appendPorts(dst, binary.BigEndian.Uint16(b[0:]), binary.BigEndian.Uint16(b[2:]))
	ulen := int(binary.BigEndian.Uint16(b[4:]))
	if ulen < 8 {
		dst = append(dst, "truncated-udplength "...)
		return appendUint(dst, uint64(ulen))
	}
	// tcpdump prints the UDP header's length, not the IP payload's, so a first
	// fragment shows the whole datagram.
	dst = append(dst, "UDP, length "...)
	return strconv.AppendInt(dst, int64(ulen-8), 10)
}

// appendIPv6 prints an IPv6 packet (RFC 8200), its hop-by-hop and fragment headers
// and what it carries.
func (s *Summarizer) appendIPv6(dst []byte, b []byte) []byte {
	if len(b) < 40 {
		return append(dst, "[|ip6]"...)
	}
	var c ipCtx // field by field, as in appendIPv4
	c.v6, c.src, c.dst, c.direct = true, b[8:24], b[24:40], true
	length := int(binary.BigEndian.Uint16(b[4:]))
	next := b[6]
	p := b[40:min(40+length, len(b))]
	if next == protoTCP || next == protoUDP {
		return s.appendTransport(dst, &c, next, p, length)
	}
	dst = c.appendAddrs(dst)
	dst = append(dst, ' ')
	c.direct = false
	for {
		switch next {
		case protoHopByHop:
			if len(p) < 8 || len(p) < (int(p[1])+1)*8 {
				return append(dst, "HBH [|ip6]"...)
			}
			n := (int(p[1]) + 1) * 8
			dst = append(dst, "HBH "...)
			next, p, length = p[0], p[n:], length-n
			continue
		case protoFragment:
			if len(p) < 8 {
				return append(dst, "frag [|ip6]"...)
			}
			off := binary.BigEndian.Uint16(p[2:]) &^ 7
			dst = append(dst, "frag ("...)
			dst = appendUint(dst, uint64(off))
			dst = append(dst, '|')
			dst = appendUint(dst, uint64(length-8))
			dst = append(dst, ')')
			if off != 0 {
				return dst
			}
			dst = append(dst, ' ')
			next, p, length = p[0], p[8:], length-8
			continue
		case protoNone6:
			return append(dst, "no next header"...)
		}
		return s.appendTransport(dst, &c, next, p, length)
	}
}
