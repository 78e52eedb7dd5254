package timeline

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
)

// Summary renders a frame as one tcpdump-style line (without time or interface):
// "IP 198.18.1.2.40000 > 198.18.1.1.80: Flags [S], seq 0, win 64240, options [mss 1460], length 0".
func (f *Frame) Summary() string {
	p := &f.Packet
	ip := "IP"
	if p.Src.Is6() {
		ip = "IP6"
	}
	switch p.Proto {
	case "tcp":
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s.%d > %s.%d: Flags [%s]", ip, p.Src, p.SPort, p.Dst, p.DPort, p.Flags)
		if p.PayloadLen > 0 || p.Flags&(header.TCPFlagSYN|header.TCPFlagFIN) != 0 {
			end := f.RelSeq + uint32(p.PayloadLen)
			if p.PayloadLen > 0 {
				fmt.Fprintf(&b, ", seq %d:%d", f.RelSeq, end)
			} else {
				fmt.Fprintf(&b, ", seq %d", f.RelSeq)
			}
		} else if p.Flags.Has(header.TCPFlagRST) {
			fmt.Fprintf(&b, ", seq %d", f.RelSeq)
		}
		if p.Flags.Has(header.TCPFlagACK) {
			fmt.Fprintf(&b, ", ack %d", f.RelAck)
		}
		fmt.Fprintf(&b, ", win %d", p.Window)
		if len(p.OptText) > 0 {
			fmt.Fprintf(&b, ", options [%s]", strings.Join(p.OptText, ","))
		}
		fmt.Fprintf(&b, ", length %d", p.PayloadLen)
		if p.Flags == header.TCPFlagSYN || p.Flags == header.TCPFlagSYN|header.TCPFlagECE|header.TCPFlagCWR {
			fmt.Fprintf(&b, " (isn %d)", p.Seq)
		}
		return b.String()
	case "udp":
		return fmt.Sprintf("%s %s.%d > %s.%d: UDP, length %d", ip, p.Src, p.SPort, p.Dst, p.DPort, p.PayloadLen)
	case "icmp", "icmp6":
		return fmt.Sprintf("%s %s > %s: %s", ip, p.Src, p.Dst, icmpText(p))
	case "arp":
		if p.ARPOp == 1 {
			return fmt.Sprintf("ARP, Request who-has %s tell %s, length %d", p.Dst, p.Src, p.Len)
		}
		return fmt.Sprintf("ARP, Reply %s is-at %s, length %d", p.Src, p.SrcMAC, p.Len)
	case "ip", "ip6":
		s := fmt.Sprintf("%s %s > %s: ip-proto, length %d", ip, p.Src, p.Dst, p.Len)
		if p.MF || p.FragOff > 0 {
			s += fmt.Sprintf(" (frag id %d offset %d%s)", p.IPID, p.FragOff, map[bool]string{true: " MF"}[p.MF])
		}
		return s
	}
	return fmt.Sprintf("ethertype %s, length %d", p.Proto, p.Len)
}

func icmpText(p *Packet) string {
	var s string
	if p.Proto == "icmp" {
		switch {
		case p.ICMPType == 8:
			s = "ICMP echo request"
		case p.ICMPType == 0:
			s = "ICMP echo reply"
		case p.ICMPType == 3 && p.ICMPCode == 4:
			s = fmt.Sprintf("ICMP unreachable - need to frag (mtu %d)", p.MTU)
		case p.ICMPType == 3:
			s = fmt.Sprintf("ICMP %s unreachable", map[int]string{0: "net", 1: "host", 3: "port", 10: "host admin prohibited", 13: "admin prohibited"}[p.ICMPCode])
		case p.ICMPType == 11:
			s = "ICMP time exceeded in-transit"
		default:
			s = fmt.Sprintf("ICMP type %d code %d", p.ICMPType, p.ICMPCode)
		}
	} else {
		switch p.ICMPType {
		case 128:
			s = "ICMP6, echo request"
		case 129:
			s = "ICMP6, echo reply"
		case 1:
			s = fmt.Sprintf("ICMP6, destination unreachable code %d", p.ICMPCode)
		case 2:
			s = fmt.Sprintf("ICMP6, packet too big, mtu %d", p.MTU)
		case 135:
			s = "ICMP6, neighbor solicitation"
		case 136:
			s = "ICMP6, neighbor advertisement"
		case 133:
			s = "ICMP6, router solicitation"
		case 143:
			s = "ICMP6, multicast listener report v2"
		default:
			s = fmt.Sprintf("ICMP6, type %d code %d", p.ICMPType, p.ICMPCode)
		}
	}
	if in := p.Inner; in != nil && in.Proto != "" {
		s += fmt.Sprintf(" (quoting %s %s:%d > %s:%d)", in.Proto, in.Src, in.SPort, in.Dst, in.DPort)
	}
	return s
}

// WriteText renders the timeline: one line per event, time relative to the start, a
// frame seen on both ends of a veth shown once as "a:eth0 > b:eth0", each TCP or UDP
// frame tagged with its flow ([f1]), then an index of the flows.
func (tl *Timeline) WriteText(w io.Writer) error {
	type flowInfo struct {
		first  *Frame
		frames int
		links  map[string]bool
	}
	flows := map[int]*flowInfo{}
	var order []int
	for _, e := range tl.Events() {
		if e.Kind == KindFrame && e.Frame.Flow > 0 {
			fi := flows[e.Frame.Flow]
			if fi == nil {
				fi = &flowInfo{first: e.Frame, links: map[string]bool{}}
				flows[e.Frame.Flow] = fi
				order = append(order, e.Frame.Flow)
			}
			fi.links[tl.Endpoints[e.Frame.Index].String()] = true
			if !e.Frame.Dup {
				fi.frames++
			}
		}
		if e.Kind == KindFrame && e.Frame.Dup {
			continue
		}
		if _, err := fmt.Fprintln(w, tl.Line(e)); err != nil {
			return err
		}
	}
	if len(order) > 0 {
		fmt.Fprintln(w, "flows:")
	}
	for _, id := range order {
		fi := flows[id]
		p := &fi.first.Packet
		var links []string
		for l := range fi.links {
			links = append(links, l)
		}
		sort.Strings(links)
		if _, err := fmt.Fprintf(w, "  [f%d] %s %s:%d > %s:%d, %d frame(s), seen on %s\n", id, p.Proto, p.Src, p.SPort, p.Dst, p.DPort, fi.frames, strings.Join(links, " ")); err != nil {
			return err
		}
	}
	return nil
}

// Line renders one event.
func (tl *Timeline) Line(e Event) string {
	ts := fmtRel(e.Time.Sub(tl.Start))
	switch e.Kind {
	case KindFrame:
		f := e.Frame
		where := tl.Endpoints[f.Index].String()
		if p := tl.Endpoints[f.Index].Peer; p >= 0 {
			if f.Out {
				where += " > " + tl.Endpoints[p].String()
			} else {
				where = tl.Endpoints[p].String() + " > " + where
			}
		} else if f.Out {
			where += " >"
		} else {
			where += " <"
		}
		tag := "    "
		if f.Flow > 0 {
			tag = fmt.Sprintf("[f%d]", f.Flow)
		}
		text := f.Text
		if text == "" {
			text = f.Summary()
		}
		if p := &f.Packet; p.Proto == "tcp" && p.Flags&(header.TCPFlagSYN|header.TCPFlagRST) != 0 {
			// tcpdump prints these with absolute numbers; say what pktlab counts.
			if p.Flags.Has(header.TCPFlagACK) {
				text += fmt.Sprintf(" [relative seq %d ack %d]", f.RelSeq, f.RelAck)
			} else {
				text += fmt.Sprintf(" [relative seq %d]", f.RelSeq)
			}
		}
		if f.NAT != "" {
			text += " [NAT: was " + f.NAT + "]"
		}
		return fmt.Sprintf("%s %s %-27s %s", ts, tag, where, text)
	case KindCall:
		return fmt.Sprintf("%s  ==  %s", ts, e.Call)
	case KindStep:
		return fmt.Sprintf("%s  --  %s", ts, e.Text)
	default:
		if e.Node == "" {
			return fmt.Sprintf("%s  %-2s  %s", ts, kindMark[e.Kind], e.Text)
		}
		return fmt.Sprintf("%s  %-2s  %s %s", ts, kindMark[e.Kind], e.Node, e.Text)
	}
}

var kindMark = map[Kind]string{KindState: "::", KindVerdict: "nf", KindCT: "ct", KindNote: "!!"}

func fmtRel(d time.Duration) string {
	return fmt.Sprintf("%4d.%06d", int64(d/time.Second), int64(d%time.Second/time.Microsecond))
}
