package rawsock

import (
	"strconv"

	"github.com/pktlab/pktlab/rawsock/decode"
	"github.com/pktlab/pktlab/rawsock/header"
)

// IP protocol numbers the summaries dissect.
const (
	protoHopByHop = header.IPProtocolHopByHop
	protoICMP     = header.IPProtocolICMPv4
	protoTCP      = header.IPProtocolTCP
	protoUDP      = header.IPProtocolUDP
	protoFragment = header.IPProtocolFragment
	protoICMPv6   = header.IPProtocolICMPv6
	protoNone6    = header.IPProtocolNoNext
)

// ipCtx is what a transport printer needs from the IP header before it.
type ipCtx struct {
	v6       bool
	src, dst []byte // addresses, 4 or 16 bytes
	direct   bool   // the transport header follows the fixed IP header directly
	pfx      *prefixCache
	// tcp is the TCP header a Decoder found where the transport starts, nil
	// when there was no decoder or no whole header.
	tcp header.TCP
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
	if c.direct && c.pfx != nil {
		return c.pfx.append(dst, c, sport, dport)
	}
	return c.formatPorts(dst, sport, dport)
}

// formatPorts is appendPorts without the cache.
func (c *ipCtx) formatPorts(dst []byte, sport, dport uint16) []byte {
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

// appendIPv4 prints an IPv4 packet (RFC 791) and what it carries; h holds the
// frame's decoded headers, or is nil.
func (s *Summarizer) appendIPv4(dst []byte, b []byte, h *decode.Headers) []byte {
	if len(b) < header.IPv4MinLen {
		return append(dst, "[|ip]"...)
	}
	ip := header.IPv4(b)
	if v := ip.Version(); v != 4 {
		dst = append(dst, "IP"...)
		dst = appendUint(dst, uint64(v))
		return append(dst, " [|ip]"...)
	}
	hlen := ip.HeaderLen()
	total := int(ip.TotalLength())
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
	c.src, c.dst, c.direct, c.pfx = ip.SrcBytes(), ip.DstBytes(), true, &s.pfx
	proto := ip.Protocol()
	payload := b[hlen:min(total, len(b))]
	length := total - hlen
	if h != nil {
		c.tcp = h.TCPAt(payload)
	}
	if ip.FragmentOffset() != 0 {
		// Not the first fragment: no transport header to print (print-ip.c).
		dst = c.appendAddrs(dst)
		dst = append(dst, " ip-proto-"...)
		return appendUint(dst, uint64(proto))
	}
	return s.appendTransport(dst, &c, proto, payload, length)
}

// appendTransport prints the transport of an IP packet; length is its length
// according to the IP header, payload the bytes captured.
func (s *Summarizer) appendTransport(dst []byte, c *ipCtx, proto header.IPProtocol, payload []byte, length int) []byte {
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
	u := header.UDP(b)
	dst = c.appendPorts(dst, u.SrcPort(), u.DstPort())
	ulen := int(u.Length())
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
// and what it carries; h holds the frame's decoded headers, or is nil.
func (s *Summarizer) appendIPv6(dst []byte, b []byte, h *decode.Headers) []byte {
	if len(b) < header.IPv6Len {
		return append(dst, "[|ip6]"...)
	}
	ip := header.IPv6(b)
	var c ipCtx // field by field, as in appendIPv4
	c.v6, c.src, c.dst, c.direct, c.pfx = true, ip.SrcBytes(), ip.DstBytes(), true, &s.pfx
	length := int(ip.PayloadLength())
	next := ip.NextHeader()
	p := b[header.IPv6Len:min(header.IPv6Len+length, len(b))]
	if next == protoTCP || next == protoUDP {
		if h != nil {
			c.tcp = h.TCPAt(p)
		}
		return s.appendTransport(dst, &c, next, p, length)
	}
	dst = c.appendAddrs(dst)
	dst = append(dst, ' ')
	c.direct = false
	for {
		switch next {
		case protoHopByHop:
			o := header.IPv6OptionsHeader(p)
			if len(p) < 8 || len(p) < o.Len() {
				return append(dst, "HBH [|ip6]"...)
			}
			n := o.Len()
			dst = append(dst, "HBH "...)
			next, p, length = o.NextHeader(), p[n:], length-n
			continue
		case protoFragment:
			if len(p) < header.IPv6FragmentLen {
				return append(dst, "frag [|ip6]"...)
			}
			f := header.IPv6Fragment(p)
			off := f.Offset()
			dst = append(dst, "frag ("...)
			dst = appendUint(dst, uint64(off))
			dst = append(dst, '|')
			dst = appendUint(dst, uint64(length-8))
			dst = append(dst, ')')
			if off != 0 {
				return dst
			}
			dst = append(dst, ' ')
			next, p, length = f.NextHeader(), f.Payload(), length-8
			continue
		case protoNone6:
			return append(dst, "no next header"...)
		}
		if h != nil {
			c.tcp = h.TCPAt(p)
		}
		return s.appendTransport(dst, &c, next, p, length)
	}
}
