package timeline

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock/decode"
	"github.com/pktlab/pktlab/rawsock/header"
)

// Packet is what pktlab reads out of a frame to annotate and match it. Fields that do not
// apply are zero (ports, TCP fields) or -1 (ICMP type and code). Headers is the decoded
// frame the fields were read from: the views of rawsock/header over the frame's bytes,
// for anything the fields leave out.
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
	Flags          header.TCPFlags // written as tcpdump does: S, S., F., R., P., .
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

	Headers decode.Headers
}

// Decode decodes an Ethernet frame with rawsock's decoder and reads its fields. It never
// fails: what does not decode is left zero.
func Decode(data []byte) Packet {
	var p Packet
	p.Headers.Decode(layers.LinkTypeEthernet, data) // a fault leaves the headers before it
	p.fill()
	return p
}

// FromHeaders reads the fields of a frame already decoded (by decode.Headers.Decode
// or a rawsock.Decoder), copying the headers, so that the frame is decoded once.
func FromHeaders(h *decode.Headers) Packet {
	p := Packet{Headers: *h}
	p.fill()
	return p
}

// decodeCaptured reads a captured frame's fields from the headers its capture
// decoded, or decodes it when the capture did not.
func decodeCaptured(c *Captured) Packet {
	if c.Headers.Frame() != nil {
		h := c.Headers.On(c.Data)
		return FromHeaders(&h)
	}
	return Decode(c.Data)
}

// fill reads the fields from p.Headers.
func (p *Packet) fill() {
	h := &p.Headers
	p.Len, p.MSS, p.WScale, p.ICMPType, p.ICMPCode = len(h.Frame()), -1, -1, -1, -1
	if e := h.Ethernet(); e != nil {
		p.SrcMAC, p.DstMAC = e.Src(), e.Dst()
		if h.ARP() == nil && h.IPv4() == nil && h.IPv6() == nil {
			p.Proto = fmt.Sprintf("0x%04x", uint16(e.Type()))
		}
	}
	if a := h.ARP(); a != nil {
		p.Proto, p.ARPOp = "arp", int(a.Op())
		p.Src, p.Dst = h.Addrs()
		return
	}
	p.network(h)
}

// network reads the outermost IP header and the transport after it, reporting
// whether there was an IP header.
func (p *Packet) network(h *decode.Headers) bool {
	switch {
	case h.IPv4() != nil:
		ip := h.IPv4()
		p.Proto = "ip"
		p.TTL, p.ECN, p.IPID = int(ip.TTL()), int(ip.ECN()), int(ip.ID())
		p.DF, p.MF, p.FragOff = ip.DontFragment(), ip.MoreFragments(), ip.FragmentOffset()
	case h.IPv6() != nil:
		p.Proto = "ip6"
		p.TTL, p.ECN = int(h.IPv6().HopLimit()), int(h.IPv6().ECN())
	default:
		return false
	}
	p.Src, p.Dst = h.Addrs()
	p.transport(h)
	return true
}

// transport reads the transport header after the IP header.
func (p *Packet) transport(h *decode.Headers) {
	switch {
	case h.TCP() != nil:
		t := h.TCP()
		p.Proto = "tcp"
		p.SPort, p.DPort = int(t.SrcPort()), int(t.DstPort())
		p.Seq, p.Ack, p.Window, p.Urgent = t.Seq(), t.Ack(), int(t.Window()), int(t.Urgent())
		p.Flags = t.Flags()
		p.PayloadLen = len(t.Payload())
		p.options(t)
	case h.UDP() != nil:
		p.Proto = "udp"
		p.SPort, p.DPort = int(h.UDP().SrcPort()), int(h.UDP().DstPort())
		p.PayloadLen = len(h.UDP().Payload())
	case h.ICMPv4() != nil:
		m := h.ICMPv4()
		p.Proto = "icmp"
		p.ICMPType, p.ICMPCode = int(m.Type()), int(m.Code())
		if m.Type() == header.ICMPv4Unreachable && m.Code() == header.ICMPv4FragNeeded {
			p.MTU = int(m.MTU())
		}
		p.PayloadLen = len(m.Payload())
		if m.Type() == header.ICMPv4Unreachable || m.Type() == header.ICMPv4TimeExceeded {
			p.inner(m.Payload())
		}
	case h.ICMPv6() != nil:
		m := h.ICMPv6()
		p.Proto = "icmp6"
		p.ICMPType, p.ICMPCode = int(m.Type()), int(m.Code())
		if m.Type() == header.ICMPv6PacketTooBig {
			p.MTU = int(m.MTU())
		}
		p.PayloadLen = len(m) - 4 // the body after type, code and checksum
		switch m.Type() {
		case header.ICMPv6Unreachable, header.ICMPv6PacketTooBig, header.ICMPv6TimeExceeded:
			if len(m.Payload()) > 0 {
				p.inner(m.Payload())
			}
		}
	}
}

// inner reads the packet an ICMP error quotes (RFC 792, RFC 4443 §2.4): its IP header
// and as much of the transport header as it holds.
func (p *Packet) inner(b []byte) {
	in := Packet{MSS: -1, WScale: -1, ICMPType: -1, ICMPCode: -1}
	in.Headers.Decode(layers.LinkTypeRaw, b) // cut short, as quotes are
	if in.network(&in.Headers) {
		p.Inner = &in
	}
}

// options reads the option list in tcpdump's names, with MSS and window scale. Names
// and texts share one array, and the texts are built without fmt: a frame event is
// made for every frame a run captures.
func (p *Packet) options(t header.TCP) {
	n := 0
	for it := t.Options(); it.Next(); {
		n++
	}
	if n == 0 {
		return
	}
	both := make([]string, 2*n)
	p.Options, p.OptText = both[:n:n], both[n:]
	i := 0
	for it := t.Options(); it.Next(); i++ {
		o := it.Option()
		name, text := "", ""
		var b [64]byte
		switch o.Kind {
		case header.TCPOptionEOL, header.TCPOptionNOP, header.TCPOptionSACKOK, header.TCPOptionMD5,
			header.TCPOptionFastOpen, header.TCPOptionMPTCP:
			name = o.Kind.String()
		case header.TCPOptionMSS:
			name = "mss"
			if v, ok := o.MSS(); ok {
				p.MSS = int(v)
				text = string(strconv.AppendUint(append(b[:0], "mss "...), uint64(v), 10))
			}
		case header.TCPOptionWScale:
			name = "wscale"
			if v, ok := o.WScale(); ok {
				p.WScale = int(v)
				text = string(strconv.AppendUint(append(b[:0], "wscale "...), uint64(v), 10))
			}
		case header.TCPOptionSACK:
			name = "sack"
			var blocks []string
			for i := range o.SACKBlocks() {
				l, r := o.SACKBlock(i)
				blocks = append(blocks, fmt.Sprintf("{%d:%d}", l, r))
			}
			text = fmt.Sprintf("sack %d %s", len(blocks), strings.Join(blocks, ""))
		case header.TCPOptionTimestamp:
			name = "TS"
			if val, ecr, ok := o.Timestamps(); ok {
				x := strconv.AppendUint(append(b[:0], "TS val "...), uint64(val), 10)
				text = string(strconv.AppendUint(append(x, " ecr "...), uint64(ecr), 10))
			}
		default:
			name = "unknown"
			text = "unknown-" + strconv.Itoa(int(o.Kind))
		}
		if text == "" {
			text = name
		}
		p.Options[i], p.OptText[i] = name, text
	}
}
