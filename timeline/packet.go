package timeline

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Packet is what pktlab reads out of a frame to annotate and match it. Fields that do not
// apply are zero (ports, TCP fields) or -1 (ICMP type and code).
type Packet struct {
	Len            int // frame length
	SrcMAC, DstMAC net.HardwareAddr
	Proto          string // tcp, udp, icmp, icmp6, arp, ip, ip6, or the EtherType in hex
	Src, Dst       netip.Addr
	TTL            int // IPv4 TTL or IPv6 hop limit
	ECN            int // the IP header's ECN bits
	DF, MF         bool
	FragOff        int // bytes
	IPID           int
	SPort, DPort   int
	Flags          string // tcpdump letters: S, S., F., R., P., .
	Seq, Ack       uint32
	Window         int
	Urgent         int      // urgent pointer (meaningful with U)
	Options        []string // tcpdump names, in order: mss, sackOK, TS, nop, wscale
	OptText        []string // tcpdump rendering: "mss 1460", "TS val 1 ecr 0"
	MSS, WScale    int      // -1 when absent
	PayloadLen     int
	ICMPType       int
	ICMPCode       int
	MTU            int // next-hop MTU of ICMP frag-needed / ICMPv6 packet too big
	ARPOp          int
	Inner          *Packet // the packet quoted inside an ICMP error
}

// Decode reads an Ethernet frame. It never fails: undecodable parts are left zero.
func Decode(data []byte) Packet {
	p := Packet{Len: len(data), MSS: -1, WScale: -1, ICMPType: -1, ICMPCode: -1}
	pk := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	if eth, ok := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
		p.SrcMAC, p.DstMAC = eth.SrcMAC, eth.DstMAC
		p.Proto = fmt.Sprintf("0x%04x", uint16(eth.EthernetType))
	}
	p.fill(pk)
	return p
}

func (p *Packet) fill(pk gopacket.Packet) {
	for _, l := range pk.Layers() {
		switch l := l.(type) {
		case *layers.ARP:
			p.Proto, p.ARPOp = "arp", int(l.Operation)
			p.Src, _ = netip.AddrFromSlice(l.SourceProtAddress)
			p.Dst, _ = netip.AddrFromSlice(l.DstProtAddress)
		case *layers.IPv4:
			if p.Src.IsValid() { // a quoted header inside ICMP is decoded separately
				return
			}
			p.Proto = "ip"
			p.Src, _ = netip.AddrFromSlice(l.SrcIP.To4())
			p.Dst, _ = netip.AddrFromSlice(l.DstIP.To4())
			p.TTL, p.ECN, p.IPID = int(l.TTL), int(l.TOS&3), int(l.Id)
			p.DF, p.MF = l.Flags&layers.IPv4DontFragment != 0, l.Flags&layers.IPv4MoreFragments != 0
			p.FragOff = int(l.FragOffset) * 8
		case *layers.IPv6:
			if p.Src.IsValid() {
				return
			}
			p.Proto = "ip6"
			p.Src, _ = netip.AddrFromSlice(l.SrcIP)
			p.Dst, _ = netip.AddrFromSlice(l.DstIP)
			p.TTL, p.ECN = int(l.HopLimit), int(l.TrafficClass&3)
		case *layers.TCP:
			p.Proto = "tcp"
			p.SPort, p.DPort = int(l.SrcPort), int(l.DstPort)
			p.Seq, p.Ack, p.Window, p.Urgent = l.Seq, l.Ack, int(l.Window), int(l.Urgent)
			p.Flags = tcpFlags(l)
			p.PayloadLen = len(l.Payload)
			p.options(l.Options)
			return
		case *layers.UDP:
			p.Proto = "udp"
			p.SPort, p.DPort = int(l.SrcPort), int(l.DstPort)
			p.PayloadLen = len(l.Payload)
			return
		case *layers.ICMPv4:
			p.Proto = "icmp"
			p.ICMPType, p.ICMPCode = int(l.TypeCode.Type()), int(l.TypeCode.Code())
			if p.ICMPType == 3 && p.ICMPCode == 4 {
				p.MTU = int(binary.BigEndian.Uint16([]byte{byte(l.Seq >> 8), byte(l.Seq)}))
			}
			p.PayloadLen = len(l.Payload)
			if p.ICMPType == 3 || p.ICMPType == 11 {
				p.inner(l.Payload, layers.LayerTypeIPv4)
			}
			return
		case *layers.ICMPv6:
			p.Proto = "icmp6"
			p.ICMPType, p.ICMPCode = int(l.TypeCode.Type()), int(l.TypeCode.Code())
			if p.ICMPType == 2 && len(l.Payload) >= 4 {
				p.MTU = int(binary.BigEndian.Uint32(l.Payload[:4]))
			}
			p.PayloadLen = len(l.Payload)
			if (p.ICMPType == 1 || p.ICMPType == 2 || p.ICMPType == 3) && len(l.Payload) > 4 {
				p.inner(l.Payload[4:], layers.LayerTypeIPv6)
			}
			return
		}
	}
}

func (p *Packet) inner(b []byte, first gopacket.LayerType) {
	in := Packet{MSS: -1, WScale: -1, ICMPType: -1, ICMPCode: -1}
	in.fill(gopacket.NewPacket(b, first, gopacket.DecodeOptions{Lazy: true, NoCopy: true}))
	if in.Src.IsValid() {
		p.Inner = &in
	}
}

// tcpFlags renders flags as tcpdump does: S F R P U E W, then '.' for ACK.
func tcpFlags(t *layers.TCP) string {
	var b strings.Builder
	for _, f := range []struct {
		on bool
		c  byte
	}{{t.SYN, 'S'}, {t.FIN, 'F'}, {t.RST, 'R'}, {t.PSH, 'P'}, {t.URG, 'U'}, {t.ECE, 'E'}, {t.CWR, 'W'}, {t.ACK, '.'}} {
		if f.on {
			b.WriteByte(f.c)
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

func (p *Packet) options(opts []layers.TCPOption) {
	for _, o := range opts {
		name, text := "", ""
		switch o.OptionType {
		case layers.TCPOptionKindEndList:
			name = "eol"
		case layers.TCPOptionKindNop:
			name = "nop"
		case layers.TCPOptionKindMSS:
			name = "mss"
			if len(o.OptionData) == 2 {
				p.MSS = int(binary.BigEndian.Uint16(o.OptionData))
				text = fmt.Sprintf("mss %d", p.MSS)
			}
		case layers.TCPOptionKindWindowScale:
			name = "wscale"
			if len(o.OptionData) == 1 {
				p.WScale = int(o.OptionData[0])
				text = fmt.Sprintf("wscale %d", p.WScale)
			}
		case layers.TCPOptionKindSACKPermitted:
			name = "sackOK"
		case layers.TCPOptionKindSACK:
			name = "sack"
			var blocks []string
			for i := 0; i+8 <= len(o.OptionData); i += 8 {
				blocks = append(blocks, fmt.Sprintf("{%d:%d}", binary.BigEndian.Uint32(o.OptionData[i:]), binary.BigEndian.Uint32(o.OptionData[i+4:])))
			}
			text = fmt.Sprintf("sack %d %s", len(blocks), strings.Join(blocks, ""))
		case layers.TCPOptionKindTimestamps:
			name = "TS"
			if len(o.OptionData) == 8 {
				text = fmt.Sprintf("TS val %d ecr %d", binary.BigEndian.Uint32(o.OptionData), binary.BigEndian.Uint32(o.OptionData[4:]))
			}
		case 19:
			name = "md5"
		case 34:
			name = "tfo"
		case layers.TCPOptionKindMultipathTCP:
			name = "mptcp"
		default:
			name = "unknown"
			text = fmt.Sprintf("unknown-%d", int(o.OptionType))
		}
		if text == "" {
			text = name
		}
		p.Options = append(p.Options, name)
		p.OptText = append(p.OptText, text)
	}
}
