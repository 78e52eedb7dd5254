package rawsock

import (
	"fmt"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
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
// tcpdump -v's (see docs/summaries.md).
func AppendVerbose(dst []byte, d *Decoder) []byte {
	for i, t := range d.Decoded {
		dst = append(dst, "\n"...)
		dst = append(dst, strings.Repeat("  ", i+1)...)
		dst = d.appendLayer(dst, t)
	}
	return dst
}

func (d *Decoder) appendLayer(dst []byte, t gopacket.LayerType) []byte {
	switch t {
	case layers.LayerTypeEthernet:
		e := &d.Ethernet
		return fmt.Appendf(dst, "Ethernet %v > %v, type %v (0x%04x)", e.SrcMAC, e.DstMAC, e.EthernetType, uint16(e.EthernetType))
	case layers.LayerTypeLinuxSLL:
		s := &d.SLL
		return fmt.Appendf(dst, "Linux cooked: packet type %v, address %v, protocol %v", s.PacketType, s.Addr, s.EthernetType)
	case layers.LayerTypeARP:
		a := &d.ARP
		return fmt.Appendf(dst, "ARP op %d, sender %v %v, target %v %v", a.Operation,
			netIPString(a.SourceProtAddress), fmtMAC(a.SourceHwAddress), netIPString(a.DstProtAddress), fmtMAC(a.DstHwAddress))
	case layers.LayerTypeIPv4:
		ip := &d.IPv4
		dst = fmt.Appendf(dst, "IPv4 %v > %v, ttl %d, id %d, flags [%v], offset %d, proto %v (%d), length %d, hlen %d, tos 0x%02x, checksum 0x%04x",
			ip.SrcIP, ip.DstIP, ip.TTL, ip.Id, ip.Flags, ip.FragOffset*8, ip.Protocol, uint8(ip.Protocol), ip.Length, int(ip.IHL)*4, ip.TOS, ip.Checksum)
		for _, o := range ip.Options {
			dst = fmt.Appendf(dst, ", option type %d len %d", o.OptionType, o.OptionLength)
		}
		return dst
	case layers.LayerTypeIPv6:
		ip := &d.IPv6
		dst = fmt.Appendf(dst, "IPv6 %v > %v, hlim %d, next %v (%d), payload length %d, class 0x%02x, flow 0x%05x",
			ip.SrcIP, ip.DstIP, ip.HopLimit, ip.NextHeader, uint8(ip.NextHeader), ip.Length, ip.TrafficClass, ip.FlowLabel)
		if h := ip.HopByHop; h != nil {
			dst = fmt.Appendf(dst, ", hop-by-hop [%d options, next %v]", len(h.Options), h.NextHeader)
		}
		return dst
	case layers.LayerTypeIPv6Fragment:
		f := &d.IPv6Frag
		return fmt.Appendf(dst, "IPv6 fragment id 0x%08x, offset %d, more %v, next %v", f.Identification, int(f.FragmentOffset)*8, f.MoreFragments, f.NextHeader)
	case layers.LayerTypeTCP:
		return d.appendTCPVerbose(dst)
	case layers.LayerTypeUDP:
		u := &d.UDP
		return fmt.Appendf(dst, "UDP %d > %d, length %d, checksum 0x%04x", u.SrcPort, u.DstPort, u.Length, u.Checksum)
	case layers.LayerTypeICMPv4:
		c := &d.ICMPv4
		return fmt.Appendf(dst, "ICMP type %d code %d (%v), id %d, seq %d, checksum 0x%04x", c.TypeCode.Type(), c.TypeCode.Code(), c.TypeCode, c.Id, c.Seq, c.Checksum)
	case layers.LayerTypeICMPv6:
		c := &d.ICMPv6
		return fmt.Appendf(dst, "ICMPv6 type %d code %d (%v), checksum 0x%04x", c.TypeCode.Type(), c.TypeCode.Code(), c.TypeCode, c.Checksum)
	case gopacket.LayerTypePayload:
		return fmt.Appendf(dst, "Payload %d bytes", len(d.Payload))
	}
	return append(dst, t.String()...)
}

func (d *Decoder) appendTCPVerbose(dst []byte) []byte {
	t := &d.TCP
	dst = fmt.Appendf(dst, "TCP %d > %d, seq %d, ack %d, flags [", t.SrcPort, t.DstPort, t.Seq, t.Ack)
	for _, f := range []struct {
		on bool
		s  string
	}{{t.FIN, "FIN"}, {t.SYN, "SYN"}, {t.RST, "RST"}, {t.PSH, "PSH"}, {t.ACK, "ACK"}, {t.URG, "URG"}, {t.ECE, "ECE"}, {t.CWR, "CWR"}, {t.NS, "AE"}} {
		if f.on {
			if dst[len(dst)-1] != '[' {
				dst = append(dst, ' ')
			}
			dst = append(dst, f.s...)
		}
	}
	dst = fmt.Appendf(dst, "], win %d, urg %d, data offset %d, checksum 0x%04x", t.Window, t.Urgent, t.DataOffset, t.Checksum)
	if len(t.Contents) > 20 {
		dst = append(dst, ", options ["...)
		dst, _ = appendTCPOptions(dst, t.Contents[20:], seqBase{}, false)
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
