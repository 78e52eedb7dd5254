package rawsock

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// TCP option constructors (RFC 9293 §3.1, RFC 7323, RFC 2018). Each returns a
// layers.TCPOption for layers.TCP.Options; Serialize pads the list to a 32-bit
// boundary.

// OptMSS is maximum segment size, kind 2 (RFC 9293 §3.7.1).
func OptMSS(mss uint16) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: binary.BigEndian.AppendUint16(nil, mss)}
}

// OptWScale is window scale, kind 3 (RFC 7323 §2.2).
func OptWScale(shift uint8) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{shift}}
}

// OptSACKPermitted is SACK-permitted, kind 4 (RFC 2018 §2).
func OptSACKPermitted() layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2}
}

// OptSACK is a SACK option, kind 5, with blocks given as left,right edge pairs
// (RFC 2018 §3).
func OptSACK(edges ...uint32) layers.TCPOption {
	var d []byte
	for _, e := range edges {
		d = binary.BigEndian.AppendUint32(d, e)
	}
	return layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + len(d)), OptionData: d}
}

// OptTimestamps is timestamps, kind 8 length 10 (RFC 7323 §3.2).
func OptTimestamps(val, ecr uint32) layers.TCPOption {
	d := binary.BigEndian.AppendUint32(nil, val)
	return layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: binary.BigEndian.AppendUint32(d, ecr)}
}

// OptNOP is no-operation, kind 1.
func OptNOP() layers.TCPOption { return layers.TCPOption{OptionType: layers.TCPOptionKindNop} }

// OptEOL is end of option list, kind 0.
func OptEOL() layers.TCPOption { return layers.TCPOption{OptionType: layers.TCPOptionKindEndList} }

// OptUnknown is any other kind with its data.
func OptUnknown(kind uint8, data []byte) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKind(kind), OptionLength: uint8(2 + len(data)), OptionData: data}
}

// IPv4 options (RFC 791 §3.1).

// IPOptNOP is an IPv4 no-operation option, type 1.
func IPOptNOP() layers.IPv4Option { return layers.IPv4Option{OptionType: 1, OptionLength: 1} }

// IPOptRouterAlert is IPv4 router alert, type 148 length 4 (RFC 2113).
func IPOptRouterAlert() layers.IPv4Option {
	return layers.IPv4Option{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}
}

// HopByHopRouterAlert is an IPv6 hop-by-hop header holding a router alert option
// (RFC 2711) with value v (0 = MLD), the header MLD reports carry, followed by the
// header next.
func HopByHopRouterAlert(v uint16, next layers.IPProtocol) *layers.IPv6HopByHop {
	opt := &layers.IPv6HopByHopOption{OptionType: 5, OptionLength: 2, OptionData: binary.BigEndian.AppendUint16(nil, v)}
	// PadN with no data fills the header to 8 bytes (RFC 8200 §4.2): 2 + 4 + 2.
	pad := &layers.IPv6HopByHopOption{OptionType: 1}
	h := &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{opt, pad}}
	h.NextHeader = next
	return h
}

// ICMPv4 messages (RFC 792) whose fields layers.ICMPv4 names differently.

// ICMPFragNeeded is destination unreachable, fragmentation needed (type 3 code 4),
// with the next-hop MTU in the low 16 bits of the second word (RFC 1191 §4). Its
// payload should be the offending packet's IP header and first 8 data bytes.
func ICMPFragNeeded(mtu uint16) *layers.ICMPv4 {
	return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded), Seq: mtu}
}

// ICMPUnreachable is destination unreachable with the given code (RFC 792).
func ICMPUnreachable(code uint8) *layers.ICMPv4 {
	return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, code)}
}

// ICMPTimeExceeded is time exceeded in transit (type 11 code 0).
func ICMPTimeExceeded() *layers.ICMPv4 {
	return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeTimeExceeded, 0)}
}

// ICMPEcho is an echo request (reply false) or reply (RFC 792).
func ICMPEcho(reply bool, id, seq uint16) *layers.ICMPv4 {
	t := uint8(layers.ICMPv4TypeEchoRequest)
	if reply {
		t = layers.ICMPv4TypeEchoReply
	}
	return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(t, 0), Id: id, Seq: seq}
}
