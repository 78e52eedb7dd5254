package header

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// IPProtocol is an IP protocol number: the IPv4 Protocol field, an IPv6 Next Header
// (IANA protocol numbers).
type IPProtocol uint8

// Protocol numbers pktlab decodes or names.
const (
	IPProtocolHopByHop IPProtocol = 0  // IPv6 hop-by-hop options (RFC 8200 §4.3)
	IPProtocolICMPv4   IPProtocol = 1  // RFC 792
	IPProtocolIGMP     IPProtocol = 2  // RFC 3376
	IPProtocolTCP      IPProtocol = 6  // RFC 9293
	IPProtocolUDP      IPProtocol = 17 // RFC 768
	IPProtocolIPv6     IPProtocol = 41 // IPv6 in IP (RFC 2473)
	IPProtocolRouting  IPProtocol = 43 // IPv6 routing header (RFC 8200 §4.4)
	IPProtocolFragment IPProtocol = 44 // IPv6 fragment header (RFC 8200 §4.5)
	IPProtocolGRE      IPProtocol = 47 // RFC 2784
	IPProtocolESP      IPProtocol = 50 // RFC 4303
	IPProtocolAH       IPProtocol = 51 // RFC 4302
	IPProtocolICMPv6   IPProtocol = 58 // RFC 4443
	IPProtocolNoNext   IPProtocol = 59 // IPv6 no next header (RFC 8200 §4.7)
	IPProtocolDestOpts IPProtocol = 60 // IPv6 destination options (RFC 8200 §4.6)
	IPProtocolSCTP     IPProtocol = 132
	IPProtocolUDPLite  IPProtocol = 136
)

var ipProtocolNames = [...]string{
	IPProtocolHopByHop: "hop-by-hop", IPProtocolICMPv4: "icmp", IPProtocolIGMP: "igmp",
	IPProtocolTCP: "tcp", IPProtocolUDP: "udp", IPProtocolIPv6: "ipv6", IPProtocolRouting: "routing",
	IPProtocolFragment: "fragment", IPProtocolGRE: "gre", IPProtocolESP: "esp", IPProtocolAH: "ah",
	IPProtocolICMPv6: "icmp6", IPProtocolNoNext: "none", IPProtocolDestOpts: "dstopts",
	IPProtocolSCTP: "sctp", IPProtocolUDPLite: "udplite",
}

// String is the protocol's short name (tcp, udp, icmp, icmp6, …), as pktlab's
// matchers and tcpdump spell them, or "ip-proto-N".
func (p IPProtocol) String() string {
	if int(p) < len(ipProtocolNames) && ipProtocolNames[p] != "" {
		return ipProtocolNames[p]
	}
	return "ip-proto-" + strconv.Itoa(int(p))
}

// IPv6Extension reports whether p is an IPv6 extension header that ExtHeaders
// walks: hop-by-hop, routing, fragment, destination options.
func (p IPProtocol) IPv6Extension() bool {
	switch p {
	case IPProtocolHopByHop, IPProtocolRouting, IPProtocolFragment, IPProtocolDestOpts:
		return true
	}
	return false
}

// IPv4 is an IPv4 header and its payload (RFC 791 §3.1), as far as the total length
// reaches into the bytes there are.
type IPv4 []byte

// IPv4MinLen is the length of an IPv4 header without options.
const IPv4MinLen = 20

// IPv4 flags (RFC 791 §3.1 "Flags"), as Flags returns them.
const (
	IPv4DontFragment  = 0x2
	IPv4MoreFragments = 0x1
)

var (
	errIPv4Short     = truncated("IPv4", "header shorter than 20 bytes")
	errIPv4IHL       = malformed("IPv4", "header length below 20 bytes")
	errIPv4Total     = malformed("IPv4", "total length below the header length")
	errIPv4HdrCut    = truncated("IPv4", "options cut short")
	errIPv4Option    = truncated("IPv4", "option runs past the header")
	errIPv4OptionLen = malformed("IPv4", "option length below 2")
	// ErrIPv4Payload is what ParseIPv4 returns with a whole header whose total
	// length runs past the bytes there are.
	errIPv4Payload = truncated("IPv4", "total length runs past the frame")
)

// ParseIPv4 returns a view of the IPv4 packet at the start of b: the header, whole
// with its options, and the payload the total length gives. A total length of 0 (a
// segmentation-offload packet) reaches to the end of b. When the header is whole but
// the total length runs past b, ParseIPv4 returns the view of the bytes there are
// together with an error wrapping ErrTruncated; with any other error the view is nil.
// The version field is not checked: Version reads it.
func ParseIPv4(b []byte) (IPv4, error) {
	if len(b) < IPv4MinLen {
		return nil, errIPv4Short
	}
	hlen := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total == 0 {
		total = len(b)
	}
	// A header longer than the bytes is cut short whatever else is wrong with it.
	switch {
	case hlen > len(b):
		return nil, errIPv4HdrCut
	case total < IPv4MinLen:
		return nil, errIPv4Total
	case hlen < IPv4MinLen:
		return nil, errIPv4IHL
	case hlen > total:
		return nil, errIPv4Total
	}
	if hlen > IPv4MinLen {
		if err := checkIPv4Options(b[IPv4MinLen:hlen]); err != nil {
			if total > len(b) {
				// The packet is cut short too; as gopacket does, call it
				// truncated, which is what capturing more would tell.
				return nil, errIPv4Option
			}
			return nil, err
		}
	}
	if total > len(b) {
		return IPv4(b), errIPv4Payload
	}
	return IPv4(b[:total]), nil
}

// checkIPv4Options walks the option list (RFC 791 §3.1): End of Option List and
// No Operation are one byte; every other option has a length of at least 2 that
// stays inside the header.
func checkIPv4Options(o []byte) error {
	for len(o) > 0 {
		switch o[0] {
		case 0:
			return nil
		case 1:
			o = o[1:]
			continue
		}
		if len(o) < 2 || int(o[1]) > len(o) {
			return errIPv4Option
		}
		if o[1] < 2 {
			return errIPv4OptionLen
		}
		o = o[o[1]:]
	}
	return nil
}

// Version is the Version field: 4.
func (ip IPv4) Version() uint8 { return ip[0] >> 4 }

// HeaderLen is the header length in bytes, options included (IHL × 4).
func (ip IPv4) HeaderLen() int { return int(ip[0]&0x0f) * 4 }

// TOS is the Type of Service byte: DSCP (RFC 2474) and ECN (RFC 3168).
func (ip IPv4) TOS() uint8 { return ip[1] }

// ECN is the ECN field of the TOS byte (RFC 3168 §5).
func (ip IPv4) ECN() uint8 { return ip[1] & 3 }

// TotalLength is the Total Length field, 0 in a segmentation-offload packet.
func (ip IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(ip[2:4]) }

// ID is the Identification field.
func (ip IPv4) ID() uint16 { return binary.BigEndian.Uint16(ip[4:6]) }

// Flags is the 3-bit Flags field: IPv4DontFragment, IPv4MoreFragments.
func (ip IPv4) Flags() uint8 { return ip[6] >> 5 }

// DontFragment reports the DF flag.
func (ip IPv4) DontFragment() bool { return ip[6]&0x40 != 0 }

// MoreFragments reports the MF flag.
func (ip IPv4) MoreFragments() bool { return ip[6]&0x20 != 0 }

// FragmentOffset is the Fragment Offset field in bytes (the field counts 8-byte
// units).
func (ip IPv4) FragmentOffset() int { return int(binary.BigEndian.Uint16(ip[6:8])&0x1fff) * 8 }

// Fragment reports whether the packet is a fragment rather than a whole datagram:
// more fragments follow, or it is not the first.
func (ip IPv4) Fragment() bool { return binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 }

// TTL is the Time to Live field.
func (ip IPv4) TTL() uint8 { return ip[8] }

// Protocol is the Protocol field.
func (ip IPv4) Protocol() IPProtocol { return IPProtocol(ip[9]) }

// Checksum is the Header Checksum field.
func (ip IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(ip[10:12]) }

// Src is the Source Address.
func (ip IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(ip[12:16])) }

// Dst is the Destination Address.
func (ip IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(ip[16:20])) }

// SrcBytes and DstBytes are the addresses as the header holds them.
func (ip IPv4) SrcBytes() []byte { return ip[12:16:16] }

// DstBytes is the destination address as the header holds it.
func (ip IPv4) DstBytes() []byte { return ip[16:20:20] }

// Options is the option area, between the fixed header and HeaderLen.
func (ip IPv4) Options() []byte { return ip[IPv4MinLen:ip.HeaderLen()] }

// Payload is what follows the header, up to the total length or the end of the
// bytes there are.
func (ip IPv4) Payload() []byte { return ip[ip.HeaderLen():] }
