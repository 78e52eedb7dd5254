package picture

import (
	"fmt"
	"strings"

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
	has := func(c string) bool { return strings.Contains(p.Flags.String(), c) }
	var w []string
	switch {
	case has("S") && has("."):
		w = append(w, "SYN-ACK")
	case has("S"):
		w = append(w, "SYN")
	}
	for _, fl := range []struct{ c, name string }{{"F", "FIN"}, {"R", "RST"}, {"P", "PSH"}, {"U", "URG"}, {"E", "ECE"}, {"W", "CWR"}} {
		if has(fl.c) {
			w = append(w, fl.name)
		}
	}
	if has("S") || has("F") || has("R") || p.PayloadLen > 0 {
		w = append(w, fmt.Sprintf("seq %d", f.RelSeq))
	}
	if has(".") {
		w = append(w, fmt.Sprintf("ack %d", f.RelAck))
	}
	if p.PayloadLen > 0 {
		w = append(w, fmt.Sprintf("len %d", p.PayloadLen))
	}
	if p.MSS >= 0 {
		w = append(w, fmt.Sprintf("mss %d", p.MSS))
	}
	if p.Window == 0 && !has("R") {
		w = append(w, "win 0")
	}
	for _, o := range p.OptText() {
		if strings.HasPrefix(o, "sack ") {
			w = append(w, "sack")
		}
	}
	return strings.Join(w, " ")
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
