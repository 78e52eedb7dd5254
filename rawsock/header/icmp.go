package header

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// ICMPv4Type is an ICMP message type (RFC 792, IANA icmp-parameters).
type ICMPv4Type uint8

// ICMP types pktlab names.
const (
	ICMPv4EchoReply      ICMPv4Type = 0
	ICMPv4Unreachable    ICMPv4Type = 3
	ICMPv4SourceQuench   ICMPv4Type = 4
	ICMPv4Redirect       ICMPv4Type = 5
	ICMPv4EchoRequest    ICMPv4Type = 8
	ICMPv4RouterAdvert   ICMPv4Type = 9
	ICMPv4RouterSolicit  ICMPv4Type = 10
	ICMPv4TimeExceeded   ICMPv4Type = 11
	ICMPv4ParamProblem   ICMPv4Type = 12
	ICMPv4TimestampReq   ICMPv4Type = 13
	ICMPv4TimestampReply ICMPv4Type = 14
)

var icmpv4Names = [...]string{
	ICMPv4EchoReply: "echo-reply", ICMPv4Unreachable: "destination-unreachable", ICMPv4SourceQuench: "source-quench",
	ICMPv4Redirect: "redirect", ICMPv4EchoRequest: "echo-request", ICMPv4RouterAdvert: "router-advertisement",
	ICMPv4RouterSolicit: "router-solicitation", ICMPv4TimeExceeded: "time-exceeded", ICMPv4ParamProblem: "parameter-problem",
	ICMPv4TimestampReq: "timestamp-request", ICMPv4TimestampReply: "timestamp-reply",
}

// String is the name nft gives the type (nft(8) "ICMP HEADER EXPRESSION"), or its
// number, as nft prints one it has no name for.
func (t ICMPv4Type) String() string {
	if int(t) < len(icmpv4Names) && icmpv4Names[t] != "" {
		return icmpv4Names[t]
	}
	return strconv.Itoa(int(t))
}

// ICMPv4Code is an ICMP code; its meaning depends on the type.
type ICMPv4Code uint8

// Destination unreachable codes (RFC 792, RFC 1812 §5.2.7.1) and time exceeded codes.
const (
	ICMPv4NetUnreachable     ICMPv4Code = 0
	ICMPv4HostUnreachable    ICMPv4Code = 1
	ICMPv4ProtoUnreachable   ICMPv4Code = 2
	ICMPv4PortUnreachable    ICMPv4Code = 3
	ICMPv4FragNeeded         ICMPv4Code = 4 // RFC 1191: the MTU field holds the next hop's MTU
	ICMPv4SourceRouteFailed  ICMPv4Code = 5
	ICMPv4NetProhibited      ICMPv4Code = 9
	ICMPv4HostProhibited     ICMPv4Code = 10
	ICMPv4AdminProhibited    ICMPv4Code = 13
	ICMPv4TTLExceeded        ICMPv4Code = 0 // time exceeded: in transit
	ICMPv4ReassemblyExceeded ICMPv4Code = 1 // time exceeded: fragment reassembly
)

var unreachNames = [...]string{
	ICMPv4NetUnreachable: "net-unreachable", ICMPv4HostUnreachable: "host-unreachable",
	ICMPv4ProtoUnreachable: "prot-unreachable", ICMPv4PortUnreachable: "port-unreachable",
	ICMPv4FragNeeded: "frag-needed", ICMPv4NetProhibited: "net-prohibited",
	ICMPv4HostProhibited: "host-prohibited", ICMPv4AdminProhibited: "admin-prohibited",
}

// String is nft's name of a destination unreachable code (icmp_code_type), or the
// number.
func (c ICMPv4Code) String() string {
	if int(c) < len(unreachNames) && unreachNames[c] != "" {
		return unreachNames[c]
	}
	return strconv.Itoa(int(c))
}

// ICMPv4 is an ICMP message (RFC 792): type, code, checksum, the 4-byte field whose
// meaning the type gives, and the body.
type ICMPv4 []byte

// ICMPv4MinLen is the length of the header every ICMP message has.
const ICMPv4MinLen = 8

var errICMPv4Short = truncated("ICMPv4", "message shorter than 8 bytes")

// ParseICMPv4 returns a view of the ICMP message at the start of b.
func ParseICMPv4(b []byte) (ICMPv4, error) {
	if len(b) < ICMPv4MinLen {
		return nil, errICMPv4Short
	}
	return ICMPv4(b), nil
}

// Type is the Type field.
func (m ICMPv4) Type() ICMPv4Type { return ICMPv4Type(m[0]) }

// Code is the Code field.
func (m ICMPv4) Code() ICMPv4Code { return ICMPv4Code(m[1]) }

// Checksum is the Checksum field.
func (m ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:4]) }

// ID is the Identifier of an echo or timestamp message.
func (m ICMPv4) ID() uint16 { return binary.BigEndian.Uint16(m[4:6]) }

// Seq is the Sequence Number of an echo or timestamp message.
func (m ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(m[6:8]) }

// MTU is the Next-Hop MTU of a fragmentation-needed message (RFC 1191 §4).
func (m ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(m[6:8]) }

// Rest is the 4-byte field after the checksum, whatever the type makes of it.
func (m ICMPv4) Rest() uint32 { return binary.BigEndian.Uint32(m[4:8]) }

// Payload is the body: an echo's data, or the quoted header of an error (RFC 792).
func (m ICMPv4) Payload() []byte { return m[ICMPv4MinLen:] }

// IsError reports whether the type is an error that quotes the packet that caused
// it: destination unreachable, source quench, redirect, time exceeded, parameter
// problem (RFC 1122 §3.2.2).
func (t ICMPv4Type) IsError() bool {
	switch t {
	case ICMPv4Unreachable, ICMPv4SourceQuench, ICMPv4Redirect, ICMPv4TimeExceeded, ICMPv4ParamProblem:
		return true
	}
	return false
}

// ICMPv6Type is an ICMPv6 message type (RFC 4443, RFC 4861, RFC 3810).
type ICMPv6Type uint8

// ICMPv6 types pktlab names.
const (
	ICMPv6Unreachable     ICMPv6Type = 1
	ICMPv6PacketTooBig    ICMPv6Type = 2
	ICMPv6TimeExceeded    ICMPv6Type = 3
	ICMPv6ParamProblem    ICMPv6Type = 4
	ICMPv6EchoRequest     ICMPv6Type = 128
	ICMPv6EchoReply       ICMPv6Type = 129
	ICMPv6MLDQuery        ICMPv6Type = 130
	ICMPv6MLDReport       ICMPv6Type = 131
	ICMPv6MLDDone         ICMPv6Type = 132
	ICMPv6RouterSolicit   ICMPv6Type = 133
	ICMPv6RouterAdvert    ICMPv6Type = 134
	ICMPv6NeighborSolicit ICMPv6Type = 135
	ICMPv6NeighborAdvert  ICMPv6Type = 136
	ICMPv6Redirect        ICMPv6Type = 137
	ICMPv6MLDv2Report     ICMPv6Type = 143
)

var icmpv6Names = map[ICMPv6Type]string{
	ICMPv6Unreachable: "destination-unreachable", ICMPv6PacketTooBig: "packet-too-big",
	ICMPv6TimeExceeded: "time-exceeded", ICMPv6ParamProblem: "parameter-problem",
	ICMPv6EchoRequest: "echo-request", ICMPv6EchoReply: "echo-reply",
	ICMPv6MLDQuery: "mld-listener-query", ICMPv6MLDReport: "mld-listener-report", ICMPv6MLDDone: "mld-listener-done",
	ICMPv6RouterSolicit: "nd-router-solicit", ICMPv6RouterAdvert: "nd-router-advert",
	ICMPv6NeighborSolicit: "nd-neighbor-solicit", ICMPv6NeighborAdvert: "nd-neighbor-advert",
	ICMPv6Redirect: "nd-redirect", ICMPv6MLDv2Report: "mld2-listener-report",
}

// String is the name nft gives the type (nft(8) "ICMPV6 HEADER EXPRESSION"), or its
// number.
func (t ICMPv6Type) String() string {
	if s, ok := icmpv6Names[t]; ok {
		return s
	}
	return strconv.Itoa(int(t))
}

// IsError reports whether the type is an error message (RFC 4443 §2.1: types below
// 128), which quotes the packet that caused it.
func (t ICMPv6Type) IsError() bool { return t < 128 }

// ICMPv6Code is an ICMPv6 code; its meaning depends on the type.
type ICMPv6Code uint8

// Destination unreachable codes (RFC 4443 §3.1).
const (
	ICMPv6NoRoute          ICMPv6Code = 0
	ICMPv6AdminProhibited  ICMPv6Code = 1
	ICMPv6BeyondScope      ICMPv6Code = 2
	ICMPv6AddrUnreachable  ICMPv6Code = 3
	ICMPv6PortUnreachable  ICMPv6Code = 4
	ICMPv6HopLimitExceeded ICMPv6Code = 0 // time exceeded: in transit
	ICMPv6ReassemblyTime   ICMPv6Code = 1 // time exceeded: fragment reassembly
)

var unreach6Names = [...]string{
	ICMPv6NoRoute: "no-route", ICMPv6AdminProhibited: "admin-prohibited", ICMPv6BeyondScope: "beyond-scope",
	ICMPv6AddrUnreachable: "addr-unreachable", ICMPv6PortUnreachable: "port-unreachable",
}

// String is nft's name of a destination unreachable code (icmpv6_code_type), or the
// number.
func (c ICMPv6Code) String() string {
	if int(c) < len(unreach6Names) {
		return unreach6Names[c]
	}
	return strconv.Itoa(int(c))
}

// ICMPv6 is an ICMPv6 message (RFC 4443 §2.1): type, code, checksum, and the 4-byte
// field every message defined has, then its body.
type ICMPv6 []byte

// ICMPv6MinLen is the length of type, code, checksum and the 4-byte field.
const ICMPv6MinLen = 8

var errICMPv6Short = truncated("ICMPv6", "message shorter than 8 bytes")

// ParseICMPv6 returns a view of the ICMPv6 message at the start of b.
func ParseICMPv6(b []byte) (ICMPv6, error) {
	if len(b) < ICMPv6MinLen {
		return nil, errICMPv6Short
	}
	return ICMPv6(b), nil
}

// Type is the Type field.
func (m ICMPv6) Type() ICMPv6Type { return ICMPv6Type(m[0]) }

// Code is the Code field.
func (m ICMPv6) Code() ICMPv6Code { return ICMPv6Code(m[1]) }

// Checksum is the Checksum field.
func (m ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:4]) }

// ID is the Identifier of an echo message (RFC 4443 §4).
func (m ICMPv6) ID() uint16 { return binary.BigEndian.Uint16(m[4:6]) }

// Seq is the Sequence Number of an echo message.
func (m ICMPv6) Seq() uint16 { return binary.BigEndian.Uint16(m[6:8]) }

// MTU is the MTU of a packet too big message (RFC 4443 §3.2).
func (m ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(m[4:8]) }

// Rest is the 4-byte field after the checksum, whatever the type makes of it.
func (m ICMPv6) Rest() uint32 { return binary.BigEndian.Uint32(m[4:8]) }

// Payload is what follows the 4-byte field: an echo's data, an error's quoted
// packet, a neighbour discovery message's target and options.
func (m ICMPv6) Payload() []byte { return m[ICMPv6MinLen:] }

// Target is the Target Address of a neighbour solicitation or advertisement (RFC
// 4861 §4.3, §4.4), when the message holds one.
func (m ICMPv6) Target() (netip.Addr, bool) {
	if t := m.Type(); (t != ICMPv6NeighborSolicit && t != ICMPv6NeighborAdvert) || len(m) < 24 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16([16]byte(m[8:24])), true
}

// NDOption returns the data of the first neighbour discovery option of kind (RFC
// 4861 §4.6: 1 source, 2 target link-layer address) after a solicitation's or
// advertisement's target, the option's type and length bytes left out.
func (m ICMPv6) NDOption(kind uint8) ([]byte, bool) {
	if _, ok := m.Target(); !ok {
		return nil, false
	}
	for o := m[24:]; len(o) >= 8; {
		n := int(o[1]) * 8
		if n == 0 || n > len(o) {
			return nil, false
		}
		if o[0] == kind {
			return o[2:n:n], true
		}
		o = o[n:]
	}
	return nil, false
}
