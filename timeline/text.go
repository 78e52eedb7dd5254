package timeline

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
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
		if p.PayloadLen > 0 || strings.ContainsAny(p.Flags.String(), "SF") {
			end := f.RelSeq + uint32(p.PayloadLen)
			if p.PayloadLen > 0 {
				fmt.Fprintf(&b, ", seq %d:%d", f.RelSeq, end)
			} else {
				fmt.Fprintf(&b, ", seq %d", f.RelSeq)
			}
		} else if strings.Contains(p.Flags.String(), "R") {
			fmt.Fprintf(&b, ", seq %d", f.RelSeq)
		}
		if strings.Contains(p.Flags.String(), ".") {
			fmt.Fprintf(&b, ", ack %d", f.RelAck)
		}
		fmt.Fprintf(&b, ", win %d", p.Window)
		if opts := p.OptText(); len(opts) > 0 {
			fmt.Fprintf(&b, ", options [%s]", strings.Join(opts, ","))
		}
		fmt.Fprintf(&b, ", length %d", p.PayloadLen)
		if p.Flags.String() == "S" || p.Flags.String() == "SEW" {
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
	for _, e := range tl.Events() {
		if f := e.Frame(); f != nil && f.Dup {
			continue
		}
		if _, err := fmt.Fprintln(w, tl.Line(e)); err != nil {
			return err
		}
	}
	return tl.WriteFlows(w)
}

// WriteFlows writes the index of the flows that closes the text timeline: each
// flow's first frame, its frames counted once, and the links it was seen on. A
// command that streamed the lines (Watch) writes it at the end.
func (tl *Timeline) WriteFlows(w io.Writer) error {
	type flowInfo struct {
		first  *Frame
		frames int
		links  map[string]bool
	}
	flows := map[int]*flowInfo{}
	var order []int
	for _, e := range tl.Events() {
		f := e.Frame()
		if f == nil || f.Flow == 0 {
			continue
		}
		fi := flows[f.Flow]
		if fi == nil {
			fi = &flowInfo{first: f, links: map[string]bool{}}
			flows[f.Flow] = fi
			order = append(order, f.Flow)
		}
		fi.links[tl.Endpoints[f.Index].String()] = true
		if !f.Dup {
			fi.frames++
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
	switch d := e.Data.(type) {
	case *Frame:
		return fmt.Sprintf("%s %s %-27s %s", ts, flowTag(d), tl.where(d), tl.frameText(d))
	case *Call:
		// A program's output (an exec step's info) goes on indented lines, as its
		// note does.
		return fmt.Sprintf("%s  ==  %s", ts, strings.ReplaceAll(d.String(), "\n", "\n        "))
	case *Step:
		return fmt.Sprintf("%s  --  %s", ts, d.Text)
	}
	mark, text := kindMark(e.Kind()), tl.Text(e)
	if e.Node == "" {
		return fmt.Sprintf("%s  %-2s  %s", ts, mark, text)
	}
	return fmt.Sprintf("%s  %-2s  %s %s", ts, mark, e.Node, text)
}

// where is a frame's link: "a:eth0 > b:eth0" when both ends are captured, else the
// endpoint and its direction.
func (tl *Timeline) where(f *Frame) string {
	where := tl.Endpoints[f.Index].String()
	if p := tl.Endpoints[f.Index].Peer; p >= 0 {
		if f.Out {
			return where + " > " + tl.Endpoints[p].String()
		}
		return tl.Endpoints[p].String() + " > " + where
	}
	if f.Out {
		return where + " >"
	}
	return where + " <"
}

func flowTag(f *Frame) string {
	if f.Flow > 0 {
		return fmt.Sprintf("[f%d]", f.Flow)
	}
	return "    "
}

// frameText is the frame's summary line with what pktlab adds to tcpdump's.
func (tl *Timeline) frameText(f *Frame) string {
	text := f.Line
	if text == "" {
		text = f.Summary()
	}
	if p := &f.Packet; p.Proto == "tcp" && strings.ContainsAny(p.Flags.String(), "SR") {
		// tcpdump prints these with absolute numbers; say what pktlab counts.
		if strings.Contains(p.Flags.String(), ".") {
			text += fmt.Sprintf(" [relative seq %d ack %d]", f.RelSeq, f.RelAck)
		} else {
			text += fmt.Sprintf(" [relative seq %d]", f.RelSeq)
		}
	}
	if f.NAT != nil {
		text += " [NAT: was " + tl.NATText(f.NAT) + "]"
	}
	if f.Cause != "" {
		text += " (" + f.Cause + ")"
	}
	return text
}

// NATText is where a NATed frame came from: "198.18.1.2:40000 > 198.19.2.2:80 on
// router:eth0".
func (tl *Timeline) NATText(n *NAT) string {
	return fmt.Sprintf("%s > %s on %s", n.Src, n.Dst, tl.Endpoints[n.Endpoint])
}

// Text is an event's words without time, mark or node: what the text timeline and the
// pcapng comments say of it.
func (tl *Timeline) Text(e Event) string {
	switch d := e.Data.(type) {
	case *Frame:
		return tl.frameText(d)
	case *Call:
		return d.String()
	case *KernelState:
		return fmt.Sprintf("%s > %s: %s → %s (%s)", d.Local, d.Remote, d.From, d.To, d.Source)
	case *UserspaceState:
		who := fmt.Sprintf("%s > %s", d.Local, d.Remote)
		if !d.Remote.IsValid() {
			who = fmt.Sprintf("%s (listener)", d.Local)
		}
		return fmt.Sprintf("[userspace TCP] %s: %s → %s: %s", who, d.From, d.To, d.Cause)
	case *Verdict:
		return fmt.Sprintf("[pkt %08x] %s", d.ID, d)
	case *Conntrack:
		return fmt.Sprintf("[%s] %s", d.Type, d.Entry())
	case *Step:
		return d.Text
	case *Note:
		return d.Text
	case *Outcome:
		mark := "PASS"
		if !d.Pass {
			mark = "FAIL"
		}
		return fmt.Sprintf("%s %s: %s", mark, d.Pos, d.Want)
	}
	return kernelText(e.Data)
}

// kernelText renders the kernel events of package ktrace.
func kernelText(d Data) string {
	switch d := d.(type) {
	case *Retransmit:
		what := "retransmit"
		if d.SynAck {
			what = "retransmit SYN-ACK"
		}
		return fmt.Sprintf("%s > %s: %s seq %d:%d [%v] in %s, ca %s", d.Local, d.Remote, what, d.Seq, d.EndSeq, d.Flags, d.State, d.CA)
	case *Reset:
		dir := "received RST"
		if d.Sent {
			dir = "sent RST"
		}
		s := fmt.Sprintf("%s > %s: %s", d.Local, d.Remote, dir)
		if d.State != "" {
			s += " in " + d.State
		}
		if d.Reason != "" {
			s += ", reason " + d.Reason
		}
		if d.Packet != nil {
			s += ", for " + d.Packet.String()
		}
		return s
	case *Drop:
		s := "drop " + d.Reason
		if d.Packet != nil {
			s += ": " + d.Packet.String()
		}
		if d.SockState != "" {
			s += fmt.Sprintf(" (socket %s > %s in %s)", d.Local, d.Remote, d.SockState)
		}
		return s
	case *CongestionSample:
		s := fmt.Sprintf("%s > %s: ca %s cwnd %d ssthresh %d srtt %s", d.Local, d.Remote, d.CA, d.SndCwnd, d.Ssthresh, d.SRTT)
		if d.NewCA != "" {
			s += " → ca " + d.NewCA
		}
		return s
	}
	return fmt.Sprintf("%v", d)
}

// kindMark is the two-character column of an event that is not a frame, call or step.
func kindMark(k Kind) string {
	switch k {
	case KindKernelState, KindUserspaceState:
		return "::"
	case KindVerdict:
		return "nf"
	case KindConntrack:
		return "ct"
	case KindRetransmit, KindReset, KindDrop, KindCongestion:
		return "kt"
	}
	return "!!" // notes and outcomes
}

func fmtRel(d time.Duration) string {
	return fmt.Sprintf("%4d.%06d", int64(d/time.Second), int64(d%time.Second/time.Microsecond))
}
