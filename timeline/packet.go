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
// for anything the fields leave out. Text (the TCP options as tcpdump writes them) is
// rendered from the headers when it is asked for, so that a frame event holds no
// string of its own.
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
	Urgent         int // urgent pointer (meaningful with U)
	MSS, WScale    int // -1 when absent; the other TCP options: Options, OptText
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

// options reads the TCP options pktlab matches on as numbers: MSS and window scale.
func (p *Packet) options(t header.TCP) {
	for it := t.Options(); it.Next(); {
		o := it.Option()
		switch o.Kind {
		case header.TCPOptionMSS:
			if v, ok := o.MSS(); ok {
				p.MSS = int(v)
			}
		case header.TCPOptionWScale:
			if v, ok := o.WScale(); ok {
				p.WScale = int(v)
			}
		}
	}
}

// Options are the TCP options' names as tcpdump prints them, in order: mss, sackOK,
// TS, nop, wscale, …; nil without TCP options.
func (p *Packet) Options() []string { return p.optionWords(false) }

// OptText is each TCP option as tcpdump renders it: "mss 1460", "TS val 1 ecr 0",
// "sack 1 {1:2}"; nil without TCP options.
func (p *Packet) OptText() []string { return p.optionWords(true) }

// optionWords renders the TCP options: their names, or their texts.
func (p *Packet) optionWords(text bool) []string {
	t := p.Headers.TCP()
	if t == nil {
		return nil
	}
	n := 0
	for it := t.Options(); it.Next(); {
		n++
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for it := t.Options(); it.Next(); {
		name, txt := optionWords(it.Option())
		if !text {
			out = append(out, name)
		} else if txt == "" {
			out = append(out, name)
		} else {
			out = append(out, txt)
		}
	}
	return out
}

// optionWords is one option's tcpdump name and, when it has values, its text.
func optionWords(o header.TCPOption) (name, text string) {
	switch o.Kind {
	case header.TCPOptionEOL, header.TCPOptionNOP, header.TCPOptionSACKOK, header.TCPOptionMD5,
		header.TCPOptionFastOpen, header.TCPOptionMPTCP:
		return o.Kind.String(), ""
	case header.TCPOptionMSS:
		if v, ok := o.MSS(); ok {
			return "mss", "mss " + strconv.Itoa(int(v))
		}
		return "mss", ""
	case header.TCPOptionWScale:
		if v, ok := o.WScale(); ok {
			return "wscale", "wscale " + strconv.Itoa(int(v))
		}
		return "wscale", ""
	case header.TCPOptionSACK:
		var b strings.Builder
		for i := range o.SACKBlocks() {
			l, r := o.SACKBlock(i)
			fmt.Fprintf(&b, "{%d:%d}", l, r)
		}
		return "sack", fmt.Sprintf("sack %d %s", o.SACKBlocks(), b.String())
	case header.TCPOptionTimestamp:
		if val, ecr, ok := o.Timestamps(); ok {
			return "TS", fmt.Sprintf("TS val %d ecr %d", val, ecr)
		}
		return "TS", ""
	}
	return "unknown", "unknown-" + strconv.Itoa(int(o.Kind))
}
