package drill

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/header"
)

func netipNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}

// ecnBits maps packetdrill's ECN names to the IP header's ECN field (RFC 3168 §5).
var ecnBits = map[string]uint8{"": 0, "noecn": 0, "ect1": 1, "ect0": 2, "ce": 3, "ect01": 2}

// ipLayer returns the IP header of a packet from src to dst.
func ipLayer(src, dst netip.Addr, proto layers.IPProtocol, ecn string) gopacket.SerializableLayer {
	if src.Is4() || src.Is4In6() {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, TOS: ecnBits[ecn], Flags: layers.IPv4DontFragment,
			SrcIP: src.Unmap().AsSlice(), DstIP: dst.Unmap().AsSlice()}
	}
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, TrafficClass: ecnBits[ecn], SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// tcpOptionsLive lays the script's options out as gopacket options, in the script's
// order, with the live values (SACK blocks and TS ecr mapped by fn).
func tcpOptionsLive(opts []TCPOption, sack func(uint32) uint32, ecr func(uint32) (uint32, error)) ([]layers.TCPOption, error) {
	var out []layers.TCPOption
	for _, o := range opts {
		switch o.Kind {
		case OptNOP:
			out = append(out, rawsock.OptNOP())
		case OptEOL:
			out = append(out, rawsock.OptEOL())
		case OptMSS:
			out = append(out, rawsock.OptMSS(uint16(o.Value)))
		case OptWScale:
			out = append(out, rawsock.OptWScale(uint8(o.Value)))
		case OptSACKOK:
			out = append(out, rawsock.OptSACKPermitted())
		case OptSACK:
			var edges []uint32
			for _, b := range o.Blocks {
				edges = append(edges, sack(b[0]), sack(b[1]))
			}
			out = append(out, rawsock.OptSACK(edges...))
		case OptTimestamp:
			e, err := ecr(o.TSEcr)
			if err != nil {
				return nil, err
			}
			out = append(out, rawsock.OptTimestamps(o.TSVal, e))
		default:
			out = append(out, rawsock.OptUnknown(uint8(o.Kind), o.Data))
		}
	}
	return out, nil
}

// liveTCP is a TCP segment the stack sent, decoded from its header view.
type liveTCP struct {
	view     header.TCP
	ecn      uint8
	src, dst netip.AddrPort
	flags    header.TCPFlags
	seq, ack uint32
	win, urg uint16
	opts     []TCPOption // as sent (TS val/ecr live), NOPs and EOL included
	payload  []byte
}

// livePacket is any packet the stack sent.
type livePacket struct {
	proto    Proto
	src, dst netip.Addr
	ecn      uint8
	tcp      *liveTCP
	udpPorts [2]uint16
	udpLen   int
	icmpType uint8
	icmpCode uint8
}

// decodePacket decodes an IP packet the stack sent, through rawsock/header's views.
func decodePacket(b []byte) (*livePacket, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("empty packet")
	}
	p := &livePacket{}
	var proto header.IPProtocol
	var body []byte
	switch b[0] >> 4 {
	case 4:
		ip, err := header.ParseIPv4(b)
		if err != nil {
			return nil, err
		}
		p.src, p.dst, p.ecn, proto, body = ip.Src(), ip.Dst(), ip.ECN(), ip.Protocol(), ip.Payload()
		if n := int(ip.TotalLength()); n >= ip.HeaderLen() && n <= len(b) {
			body = b[ip.HeaderLen():n]
		}
	case 6:
		ip, err := header.ParseIPv6(b)
		if err != nil {
			return nil, err
		}
		p.src, p.dst, p.ecn, proto, body = ip.Src(), ip.Dst(), ip.ECN(), ip.NextHeader(), ip.Payload()
	default:
		return nil, fmt.Errorf("IP version %d", b[0]>>4)
	}
	return p, p.decodeTransport(proto, body)
}

func (p *livePacket) decodeTransport(proto header.IPProtocol, body []byte) error {
	switch proto {
	case header.IPProtocolTCP:
		t, err := header.ParseTCP(body)
		if err != nil {
			return err
		}
		p.proto = ProtoTCP
		p.tcp = &liveTCP{view: t, ecn: p.ecn, src: netip.AddrPortFrom(p.src, t.SrcPort()), dst: netip.AddrPortFrom(p.dst, t.DstPort()),
			flags: t.Flags(), seq: t.Seq(), ack: t.Ack(), win: t.Window(), urg: t.Urgent(),
			opts: parseOptions(t.OptionBytes()), payload: t.Payload()}
	case header.IPProtocolUDP:
		u, err := header.ParseUDP(body)
		if err != nil {
			return err
		}
		p.proto, p.udpPorts, p.udpLen = ProtoUDP, [2]uint16{u.SrcPort(), u.DstPort()}, len(u.Payload())
	case header.IPProtocolICMPv4, header.IPProtocolICMPv6:
		if len(body) < 4 {
			return fmt.Errorf("short ICMP header")
		}
		p.proto, p.icmpType, p.icmpCode = ProtoICMP, body[0], body[1]
	}
	return nil
}

func setFlags(t *layers.TCP, f header.TCPFlags) {
	t.FIN, t.SYN, t.RST, t.PSH = f.Has(header.TCPFlagFIN), f.Has(header.TCPFlagSYN), f.Has(header.TCPFlagRST), f.Has(header.TCPFlagPSH)
	t.ACK, t.URG, t.ECE, t.CWR = f.Has(header.TCPFlagACK), f.Has(header.TCPFlagURG), f.Has(header.TCPFlagECE), f.Has(header.TCPFlagCWR)
}

// parseOptions reads the TCP options area kind by kind (RFC 9293 §3.1); a malformed
// tail becomes one unknown option holding the rest.
func parseOptions(b []byte) []TCPOption {
	var out []TCPOption
	for len(b) > 0 {
		k := OptKind(b[0])
		if k == OptEOL || k == OptNOP {
			out = append(out, TCPOption{Kind: k})
			b = b[1:]
			if k == OptEOL {
				return out
			}
			continue
		}
		if len(b) < 2 || int(b[1]) < 2 || int(b[1]) > len(b) {
			return append(out, TCPOption{Kind: k, Data: b[1:]})
		}
		d := b[2:b[1]]
		out = append(out, optionOf(k, d))
		b = b[b[1]:]
	}
	return out
}

func optionOf(k OptKind, d []byte) TCPOption {
	o := TCPOption{Kind: k, Data: d}
	switch {
	case k == OptMSS && len(d) == 2:
		o.Value, o.Data = uint32(binary.BigEndian.Uint16(d)), nil
	case k == OptWScale && len(d) == 1:
		o.Value, o.Data = uint32(d[0]), nil
	case k == OptSACKOK && len(d) == 0:
		o.Data = nil
	case k == OptTimestamp && len(d) == 8:
		o.TSVal, o.TSEcr, o.Data = binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:]), nil
	case k == OptSACK && len(d)%8 == 0:
		for i := 0; i < len(d); i += 8 {
			o.Blocks = append(o.Blocks, [2]uint32{binary.BigEndian.Uint32(d[i:]), binary.BigEndian.Uint32(d[i+4:])})
		}
		o.Data = nil
	}
	return o
}

// FormatOptions renders options as a packet line writes them: <mss 1460,nop,…>.
func FormatOptions(opts []TCPOption) string {
	var parts []string
	for _, o := range opts {
		parts = append(parts, o.String())
	}
	return "<" + strings.Join(parts, ",") + ">"
}

func (o TCPOption) String() string {
	u := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	switch o.Kind {
	case OptNOP:
		return "nop"
	case OptEOL:
		return "eol"
	case OptMSS:
		return "mss " + u(o.Value)
	case OptWScale:
		return "wscale " + u(o.Value)
	case OptSACKOK:
		return "sackOK"
	case OptTimestamp:
		return "TS val " + u(o.TSVal) + " ecr " + u(o.TSEcr)
	case OptSACK:
		s := "sack"
		for _, b := range o.Blocks {
			s += " " + u(b[0]) + ":" + u(b[1])
		}
		return s
	case OptFastOpen:
		return strings.TrimSpace("FO " + fmt.Sprintf("%x", o.Data))
	}
	return strings.TrimSpace(fmt.Sprintf("kind %d %x", o.Kind, o.Data))
}
