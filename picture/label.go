package picture

import (
	"fmt"
	"strings"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/timeline"
)

// Label is a frame's short form for an arrow, in tcpdump's words with relative
// numbers: "SYN seq 0 mss 1460", "SYN-ACK seq 0 ack 1 mss 1460", "ack 1",
// "PSH seq 1 ack 1 len 5", "FIN seq 6 ack 1", "UDP len 12", "echo request".
func Label(f *timeline.Frame) string {
	p := &f.Packet
	switch p.Proto {
	case "tcp":
		return tcpLabel(f)
	case "udp":
		return fmt.Sprintf("UDP len %d", p.PayloadLen)
	case "icmp", "icmp6":
		return icmpLabel(p)
	case "arp":
		if p.ARPOp == 1 {
			return "ARP who-has " + p.Dst.String()
		}
		return "ARP " + p.Src.String() + " is-at"
	case "ip", "ip6":
		if p.MF || p.FragOff > 0 {
			return fmt.Sprintf("fragment id %d off %d", p.IPID, p.FragOff)
		}
		return fmt.Sprintf("%s len %d", p.Proto, p.Len)
	}
	return "ethertype " + p.Proto
}

func tcpLabel(f *timeline.Frame) string {
	p := &f.Packet
	w := segmentWords(p.Flags, f.RelSeq, f.RelAck, p.PayloadLen, true)
	if p.MSS >= 0 {
		w = append(w, fmt.Sprintf("mss %d", p.MSS))
	}
	if p.Window == 0 && !p.Flags.Has(header.TCPFlagRST) {
		w = append(w, "win 0")
	}
	if hasSACK(p) {
		w = append(w, "sack")
	}
	return strings.Join(w, " ")
}

// segmentWords are the first words of a TCP segment's short form: its flags (a SYN
// with ACK is a SYN-ACK; the ACK flag itself shows as the ack number), then its
// sequence number where it carries data or a flag that occupies one, its
// acknowledgment number (when withAck), its data length.
func segmentWords(fl header.TCPFlags, seq, ack uint32, n int, withAck bool) []string {
	var w []string
	if fl.Has(header.TCPFlagSYN) {
		if fl.Has(header.TCPFlagACK) {
			w = append(w, "SYN-ACK")
		} else {
			w = append(w, "SYN")
		}
	}
	for _, x := range []struct {
		f    header.TCPFlags
		name string
	}{{header.TCPFlagFIN, "FIN"}, {header.TCPFlagRST, "RST"}, {header.TCPFlagPSH, "PSH"}, {header.TCPFlagURG, "URG"}, {header.TCPFlagECE, "ECE"}, {header.TCPFlagCWR, "CWR"}} {
		if fl.Has(x.f) {
			w = append(w, x.name)
		}
	}
	if fl&(header.TCPFlagSYN|header.TCPFlagFIN|header.TCPFlagRST) != 0 || n > 0 {
		w = append(w, fmt.Sprintf("seq %d", seq))
	}
	if withAck && fl.Has(header.TCPFlagACK) {
		w = append(w, fmt.Sprintf("ack %d", ack))
	}
	if n > 0 {
		w = append(w, fmt.Sprintf("len %d", n))
	}
	return w
}

// sackOptions returns a TCP segment's SACK options (RFC 2018 §3), read from its
// decoded header, with how many there are.
func sackOptions(p *timeline.Packet) ([4]header.TCPOption, int) {
	var out [4]header.TCPOption // a 40-byte option space holds at most four
	n := 0
	t := p.Headers.TCP()
	if t == nil {
		return out, 0
	}
	for it := t.Options(); it.Next(); {
		if o := it.Option(); o.Kind == header.TCPOptionSACK && n < len(out) {
			out[n] = o
			n++
		}
	}
	return out, n
}

// hasSACK reports whether a TCP segment carries a SACK option.
func hasSACK(p *timeline.Packet) bool {
	_, n := sackOptions(p)
	return n > 0
}

// sackBlocks are a TCP segment's SACK blocks, left and right edges as sent.
func sackBlocks(p *timeline.Packet) [][2]uint32 {
	opts, n := sackOptions(p)
	var out [][2]uint32
	for _, o := range opts[:n] {
		for i := range o.SACKBlocks() {
			l, r := o.SACKBlock(i)
			out = append(out, [2]uint32{l, r})
		}
	}
	return out
}

func icmpLabel(p *timeline.Packet) string {
	t, c := p.ICMPType, p.ICMPCode
	if p.Proto == "icmp" {
		switch {
		case t == 8:
			return "echo request"
		case t == 0:
			return "echo reply"
		case t == 3 && c == 4:
			return fmt.Sprintf("frag needed mtu %d", p.MTU)
		case t == 3:
			return fmt.Sprintf("unreachable code %d", c)
		case t == 11:
			return "time exceeded"
		}
		return fmt.Sprintf("ICMP %d/%d", t, c)
	}
	switch t {
	case 128:
		return "echo request"
	case 129:
		return "echo reply"
	case 1:
		return fmt.Sprintf("unreachable code %d", c)
	case 2:
		return fmt.Sprintf("too big mtu %d", p.MTU)
	case 3:
		return "time exceeded"
	case 133:
		return "router solicitation"
	case 134:
		return "router advertisement"
	case 135:
		return "neighbor solicitation"
	case 136:
		return "neighbor advertisement"
	case 143:
		return "MLDv2 report"
	}
	return fmt.Sprintf("ICMP6 %d/%d", t, c)
}

// chatter reports link-local housekeeping (ARP, neighbour discovery, router
// solicitations, multicast listener reports) that belongs to no flow.
func chatter(f *timeline.Frame) bool {
	p := &f.Packet
	switch p.Proto {
	case "arp":
		return true
	case "icmp6":
		return p.ICMPType >= 130 && p.ICMPType <= 137 || p.ICMPType == 143
	}
	return p.Proto != "tcp" && p.Proto != "udp" && p.Proto != "icmp" && p.Proto != "icmp6" && p.Proto != "ip" && p.Proto != "ip6"
}
