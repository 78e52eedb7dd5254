package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 is an IPv6 header and its payload (RFC 8200 §3), as far as the payload
// length reaches into the bytes there are.
type IPv6 []byte

// IPv6Len is the length of the fixed IPv6 header.
const IPv6Len = 40

var (
	errIPv6Short   = truncated("IPv6", "header shorter than 40 bytes")
	errIPv6Payload = truncated("IPv6", "payload length runs past the frame")
	errIPv6Jumbo   = malformed("IPv6", "payload length 0 (jumbograms are not decoded)")
)

// ParseIPv6 returns a view of the IPv6 packet at the start of b. When the fixed
// header is whole but the payload length runs past b, it returns the view of the
// bytes there are with an error wrapping ErrTruncated. A payload length of 0 (a
// jumbogram, RFC 2675) is reported as malformed. Extension headers are checked as
// ExtHeaders walks them.
func ParseIPv6(b []byte) (IPv6, error) {
	if len(b) < IPv6Len {
		return nil, errIPv6Short
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	switch {
	case plen == 0:
		return nil, errIPv6Jumbo
	case IPv6Len+plen > len(b):
		return IPv6(b), errIPv6Payload
	}
	return IPv6(b[:IPv6Len+plen]), nil
}

// Version is the Version field: 6.
func (ip IPv6) Version() uint8 { return ip[0] >> 4 }

// TrafficClass is the Traffic Class field: DSCP and ECN (RFC 8200 §7).
func (ip IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(ip[0:2]) >> 4) }

// ECN is the ECN field of the traffic class (RFC 3168 §5).
func (ip IPv6) ECN() uint8 { return ip.TrafficClass() & 3 }

// FlowLabel is the Flow Label field (RFC 6437).
func (ip IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(ip[0:4]) & 0xfffff }

// PayloadLength is the Payload Length field: extension headers and upper layer.
func (ip IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(ip[4:6]) }

// NextHeader is the Next Header field: an extension header or the upper layer.
func (ip IPv6) NextHeader() IPProtocol { return IPProtocol(ip[6]) }

// HopLimit is the Hop Limit field.
func (ip IPv6) HopLimit() uint8 { return ip[7] }

// Src is the Source Address.
func (ip IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(ip[8:24])) }

// Dst is the Destination Address.
func (ip IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(ip[24:40])) }

// SrcBytes is the source address as the header holds it.
func (ip IPv6) SrcBytes() []byte { return ip[8:24:24] }

// DstBytes is the destination address as the header holds it.
func (ip IPv6) DstBytes() []byte { return ip[24:40:40] }

// Payload is what follows the fixed header, extension headers included.
func (ip IPv6) Payload() []byte { return ip[IPv6Len:] }

// ExtHeaders returns an iterator over the extension headers after the fixed header.
func (ip IPv6) ExtHeaders() IPv6ExtIterator {
	return IPv6ExtIterator{next: ip.NextHeader(), rest: ip.Payload()}
}

// IPv6ExtHeader is one extension header (RFC 8200 §4): hop-by-hop options, routing,
// fragment or destination options.
type IPv6ExtHeader struct {
	Kind  IPProtocol // which extension header: the Next Header that announced it
	Bytes []byte     // the whole header
}

// NextHeader is the header's Next Header field.
func (h IPv6ExtHeader) NextHeader() IPProtocol { return IPProtocol(h.Bytes[0]) }

// Options is the TLV option area of a hop-by-hop or destination options header
// (RFC 8200 §4.2), nil for the others.
func (h IPv6ExtHeader) Options() []byte {
	if h.Kind == IPProtocolHopByHop || h.Kind == IPProtocolDestOpts {
		return h.Bytes[2:]
	}
	return nil
}

// Fragment returns the header as a fragment header view, when it is one.
func (h IPv6ExtHeader) Fragment() (IPv6Fragment, bool) {
	if h.Kind != IPProtocolFragment {
		return nil, false
	}
	return IPv6Fragment(h.Bytes), true
}

// IPv6ExtIterator walks the extension headers of an IPv6 packet, checking each
// header's length (and a hop-by-hop or destination options header's TLV options) as
// it reaches it. It stops at the first protocol that is not an extension header, and
// after the fragment header of a fragment other than the first, whose bytes are no
// header.
type IPv6ExtIterator struct {
	next IPProtocol
	rest []byte
	cur  IPv6ExtHeader
	err  error
	done bool
}

var (
	errIPv6ExtShort = truncated("IPv6 extension header", "header cut short")
	errIPv6ExtLen   = malformed("IPv6 extension header", "length runs past the packet")
	errIPv6Option   = malformed("IPv6 extension header", "option runs past the header")
	errIPv6FragCut  = truncated("IPv6 fragment", "header shorter than 8 bytes")
)

// Next advances to the next extension header and reports whether there is one.
func (it *IPv6ExtIterator) Next() bool {
	if it.done || it.err != nil || !it.next.IPv6Extension() {
		return false
	}
	b := it.rest
	n := IPv6FragmentLen
	if it.next == IPProtocolFragment {
		if len(b) < n {
			it.err = errIPv6FragCut
			return false
		}
	} else {
		if len(b) < 2 {
			it.err = errIPv6ExtShort
			return false
		}
		n = (int(b[1]) + 1) * 8
		if len(b) < n {
			it.err = errIPv6ExtLen
			return false
		}
		if it.next != IPProtocolRouting && !checkTLVOptions(b[2:n]) {
			it.err = errIPv6Option
			return false
		}
	}
	it.cur = IPv6ExtHeader{Kind: it.next, Bytes: b[:n:n]}
	it.next, it.rest = IPProtocol(b[0]), b[n:]
	if f, ok := it.cur.Fragment(); ok && f.Offset() != 0 {
		it.done = true
	}
	return true
}

// Header is the extension header Next moved to.
func (it *IPv6ExtIterator) Header() IPv6ExtHeader { return it.cur }

// Err is the fault that stopped the walk, nil when it ran to the upper layer.
func (it *IPv6ExtIterator) Err() error { return it.err }

// Transport is, once Next returned false without error, the protocol after the last
// extension header and the bytes from there on.
func (it *IPv6ExtIterator) Transport() (IPProtocol, []byte) { return it.next, it.rest }

// checkTLVOptions walks the type-length-value options of a hop-by-hop or destination
// options header (RFC 8200 §4.2): Pad1 is one byte, every other option two bytes
// and its length.
func checkTLVOptions(o []byte) bool {
	for len(o) > 0 {
		if o[0] == 0 {
			o = o[1:]
			continue
		}
		if len(o) < 2 || len(o) < 2+int(o[1]) {
			return false
		}
		o = o[2+int(o[1]):]
	}
	return true
}

// IPv6Fragment is an IPv6 fragment header (RFC 8200 §4.5).
type IPv6Fragment []byte

// IPv6FragmentLen is the length of a fragment header.
const IPv6FragmentLen = 8

// NextHeader is the Next Header field: the protocol of the fragmentable part.
func (f IPv6Fragment) NextHeader() IPProtocol { return IPProtocol(f[0]) }

// Offset is the Fragment Offset in bytes (the field counts 8-byte units).
func (f IPv6Fragment) Offset() int { return int(binary.BigEndian.Uint16(f[2:4]) &^ 7) }

// More is the M flag: more fragments follow.
func (f IPv6Fragment) More() bool { return f[3]&1 != 0 }

// ID is the Identification field.
func (f IPv6Fragment) ID() uint32 { return binary.BigEndian.Uint32(f[4:8]) }

// Payload is what follows the header.
func (f IPv6Fragment) Payload() []byte { return f[IPv6FragmentLen:] }

// IPv6OptionsHeader is a hop-by-hop or destination options header (RFC 8200 §4.3,
// §4.6), or any extension header of that layout (routing): Next Header, Hdr Ext Len,
// then the rest.
type IPv6OptionsHeader []byte

// NextHeader is the Next Header field.
func (h IPv6OptionsHeader) NextHeader() IPProtocol { return IPProtocol(h[0]) }

// Len is the header's length in bytes: (Hdr Ext Len + 1) × 8.
func (h IPv6OptionsHeader) Len() int { return (int(h[1]) + 1) * 8 }

// Options is the TLV option area of a header whose length was checked (as
// IPv6ExtIterator does).
func (h IPv6OptionsHeader) Options() []byte { return h[2:h.Len()] }
