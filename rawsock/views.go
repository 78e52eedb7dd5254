package rawsock

import (
	"fmt"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock/decode"
	"github.com/pktlab/pktlab/rawsock/header"
)

// AppendHex appends frame as tcpdump -x prints it (withLink false: from the network
// header on) or as tcpdump -xx does (withLink true): lines of 16 bytes in groups of
// two, each line "\n\t0xOFFS:  xxxx xxxx …".
func AppendHex(dst []byte, link layers.LinkType, frame []byte, withLink bool) []byte {
	if !withLink {
		switch link {
		case layers.LinkTypeEthernet:
			frame = frame[min(14, len(frame)):]
		case layers.LinkTypeLinuxSLL:
			frame = frame[min(16, len(frame)):]
		}
	}
	for off := 0; off < len(frame); off += 16 {
		dst = append(dst, "\n\t0x"...)
		dst = appendHex(dst, uint64(off), 4)
		dst = append(dst, ": "...)
		line := frame[off:min(off+16, len(frame))]
		for i := 0; i < len(line); i += 2 {
			dst = append(dst, ' ')
			dst = appendHex(dst, uint64(line[i]), 2)
			if i+1 < len(line) {
				dst = appendHex(dst, uint64(line[i+1]), 2)
			}
		}
	}
	return dst
}

// AppendVerbose appends a layered view of the frame the decoder last decoded: one
// line per header, indented, every field named. This is pktlab's own format, not
// tcpdump -v's (see docs/summaries.md); the names of protocol numbers are gopacket's,
// as they were when the decoder filled gopacket's layers.
func AppendVerbose(dst []byte, d *Decoder) []byte { return AppendHeadersVerbose(dst, &d.Headers) }

// AppendHeadersVerbose appends the layered view of decoded headers: see
// AppendVerbose.
func AppendHeadersVerbose(dst []byte, h *decode.Headers) []byte {
	for i, t := range h.Layers() {
		dst = append(dst, "\n"...)
		dst = append(dst, strings.Repeat("  ", i+1)...)
		dst = appendLayer(dst, h, t)
	}
	return dst
}

func appendLayer(dst []byte, h *decode.Headers, t gopacket.LayerType) []byte {
	switch t {
	case layers.LayerTypeEthernet:
		e := h.Ethernet()
		et := layers.EthernetType(e.Type())
		if e.Type() < header.EtherTypeMinII {
			et = layers.EthernetTypeLLC
		}
		return fmt.Appendf(dst, "Ethernet %v > %v, type %v (0x%04x)", e.Src(), e.Dst(), et, uint16(et))
	case layers.LayerTypeLinuxSLL:
		s := h.SLL()
		return fmt.Appendf(dst, "Linux cooked: packet type %v, address %v, protocol %v", layers.LinuxSLLPacketType(s.PacketType()), s.Addr(), layers.EthernetType(s.Type()))
	case layers.LayerTypeARP:
		a := h.ARP()
		return fmt.Appendf(dst, "ARP op %d, sender %v %v, target %v %v", uint16(a.Op()),
			netIPString(a.SenderProto()), fmtMAC(a.SenderHW()), netIPString(a.TargetProto()), fmtMAC(a.TargetHW()))
	case layers.LayerTypeIPv4:
		return appendIPv4Verbose(dst, h)
	case layers.LayerTypeIPv6:
		ip := h.IPv6()
		dst = fmt.Appendf(dst, "IPv6 %v > %v, hlim %d, next %v (%d), payload length %d, class 0x%02x, flow 0x%05x",
			ip.Src(), ip.Dst(), ip.HopLimit(), layers.IPProtocol(ip.NextHeader()), uint8(ip.NextHeader()), ip.PayloadLength(), ip.TrafficClass(), ip.FlowLabel())
		if hbh := h.HopByHop(); hbh != nil {
			dst = fmt.Appendf(dst, ", hop-by-hop [%d options, next %v]", countTLVOptions(hbh.Options()), layers.IPProtocol(hbh.NextHeader()))
		}
		return dst
	case layers.LayerTypeIPv6Fragment:
		f := h.IPv6Frag()
		return fmt.Appendf(dst, "IPv6 fragment id 0x%08x, offset %d, more %v, next %v", f.ID(), f.Offset(), f.More(), layers.IPProtocol(f.NextHeader()))
	case layers.LayerTypeTCP:
		return appendTCPVerbose(dst, h)
	case layers.LayerTypeUDP:
		u := h.UDP()
		return fmt.Appendf(dst, "UDP %d > %d, length %d, checksum 0x%04x", u.SrcPort(), u.DstPort(), u.Length(), u.Checksum())
	case layers.LayerTypeICMPv4:
		c := h.ICMPv4()
		tc := layers.CreateICMPv4TypeCode(uint8(c.Type()), uint8(c.Code()))
		return fmt.Appendf(dst, "ICMP type %d code %d (%v), id %d, seq %d, checksum 0x%04x", tc.Type(), tc.Code(), tc, c.ID(), c.Seq(), c.Checksum())
	case layers.LayerTypeICMPv6:
		c := h.ICMPv6()
		tc := layers.CreateICMPv6TypeCode(uint8(c.Type()), uint8(c.Code()))
		return fmt.Appendf(dst, "ICMPv6 type %d code %d (%v), checksum 0x%04x", tc.Type(), tc.Code(), tc, c.Checksum())
	case gopacket.LayerTypePayload:
		return fmt.Appendf(dst, "Payload %d bytes", len(h.Payload()))
	}
	return append(dst, t.String()...)
}

func appendIPv4Verbose(dst []byte, h *decode.Headers) []byte {
	ip := h.IPv4()
	length := int(ip.TotalLength())
	if length == 0 {
		length = min(len(ip), 0xffff) // segmentation offload: the packet's own length
	}
	dst = fmt.Appendf(dst, "IPv4 %v > %v, ttl %d, id %d, flags [%v], offset %d, proto %v (%d), length %d, hlen %d, tos 0x%02x, checksum 0x%04x",
		ip.Src(), ip.Dst(), ip.TTL(), ip.ID(), layers.IPv4Flag(ip.Flags()), ip.FragmentOffset(), layers.IPProtocol(ip.Protocol()), uint8(ip.Protocol()),
		length, ip.HeaderLen(), ip.TOS(), ip.Checksum())
	// The options as RFC 791 §3.1 lays them out (ParseIPv4 checked their lengths).
	for o := ip.Options(); len(o) > 0; {
		l := 1
		if o[0] > 1 {
			l = int(o[1])
		}
		dst = fmt.Appendf(dst, ", option type %d len %d", o[0], l)
		if o[0] == 0 {
			break
		}
		o = o[l:]
	}
	return dst
}

// countTLVOptions counts the options of a hop-by-hop or destination options header
// (RFC 8200 §4.2), padding included.
func countTLVOptions(o []byte) int {
	n := 0
	for len(o) > 0 {
		n++
		if o[0] == 0 {
			o = o[1:]
			continue
		}
		o = o[min(len(o), 2+int(o[1])):]
	}
	return n
}

// verboseFlags are the flag names of the verbose TCP line, in its order.
var verboseFlags = [...]struct {
	f header.TCPFlags
	s string
}{{header.TCPFlagFIN, "FIN"}, {header.TCPFlagSYN, "SYN"}, {header.TCPFlagRST, "RST"}, {header.TCPFlagPSH, "PSH"},
	{header.TCPFlagACK, "ACK"}, {header.TCPFlagURG, "URG"}, {header.TCPFlagECE, "ECE"}, {header.TCPFlagCWR, "CWR"}}

func appendTCPVerbose(dst []byte, h *decode.Headers) []byte {
	t := h.TCP()
	dst = fmt.Appendf(dst, "TCP %d > %d, seq %d, ack %d, flags [", t.SrcPort(), t.DstPort(), t.Seq(), t.Ack())
	sep := false
	for _, f := range verboseFlags {
		if t.Flags()&f.f != 0 {
			if sep {
				dst = append(dst, ' ')
			}
			dst, sep = append(dst, f.s...), true
		}
	}
	if t.AE() {
		if sep {
			dst = append(dst, ' ')
		}
		dst = append(dst, "AE"...)
	}
	dst = fmt.Appendf(dst, "], win %d, urg %d, data offset %d, checksum 0x%04x", t.Window(), t.Urgent(), t.DataOffset()/4, t.Checksum())
	if opts := t.OptionBytes(); len(opts) > 0 {
		dst = append(dst, ", options ["...)
		dst, _ = appendTCPOptions(dst, opts, seqBase{}, false)
	}
	return dst
}
func netIPString(b []byte) string {
	if len(b) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
	}
	return fmt.Sprintf("% x", b)
}

func fmtMAC(b []byte) string {
	if len(b) != 6 {
		return fmt.Sprintf("% x", b)
	}
	return string(appendMAC(nil, b))
}
