package drill

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pktlab/pktlab/rawsock/header"
)

// checkPacket compares an outbound packet with the script's line, in packetdrill's
// order, and returns the first difference in its words ("" when they match).
func (r *runner) checkPacket(want *Packet, lp *livePacket) string {
	if want.ECN != "" && ecnBits[want.ECN] != lp.ecn {
		return fmt.Sprintf("bad outbound ECN: expected: %s actual: %s", want.ECN, ecnName(lp.ecn))
	}
	switch want.Proto {
	case ProtoUDP:
		if uint32(lp.udpLen) != want.UDP.Len {
			return fmt.Sprintf("bad outbound UDP payload length: expected: %d actual: %d", want.UDP.Len, lp.udpLen)
		}
		return ""
	case ProtoICMP:
		return r.checkICMP(want.ICMP, lp)
	}
	return r.checkTCP(want.TCP, lp.tcp)
}

func ecnName(b uint8) string { return [...]string{"noecn", "ect1", "ect0", "ce"}[b&3] }

func (r *runner) checkICMP(want *ICMPSpec, lp *livePacket) string {
	t, c := icmpTypes[want.Type], icmpCodes[want.Code]
	if lp.src.Is6() {
		t, c = icmp6Types[want.Type], icmp6Codes[want.Code]
	}
	if lp.icmpType != t || (want.Code != "" && lp.icmpCode != c) {
		return fmt.Sprintf("bad outbound ICMP type/code: expected: %d/%d actual: %d/%d", t, c, lp.icmpType, lp.icmpCode)
	}
	return ""
}

func (r *runner) checkTCP(want *TCPSpec, lt *liveTCP) string {
	f := &r.flow
	if lt.flags&header.TCPFlagSYN != 0 && !f.haveLocalISN {
		f.localISN, f.haveLocalISN = lt.seq-want.Seq, true
	}
	u := func(what string, w, a uint32) string {
		return fmt.Sprintf("bad outbound TCP %s: expected: %d actual: %d", what, w, a)
	}
	switch seq := lt.seq - f.localISN; {
	case lt.flags != want.Flags:
		return fmt.Sprintf("bad outbound TCP flags: expected: %s actual: %s", want.Flags, lt.flags)
	case seq != want.Seq:
		return u("sequence number", want.Seq, seq)
	case uint32(len(lt.payload)) != want.Len:
		return u("payload length", want.Len, uint32(len(lt.payload)))
	case want.Ack != nil && lt.ack != *want.Ack:
		return u("ack number", *want.Ack, lt.ack)
	case want.Win != nil && uint32(lt.win) != *want.Win:
		return u("window", *want.Win, uint32(lt.win))
	case want.Urg != nil && uint32(lt.urg) != *want.Urg:
		return u("urgent pointer", *want.Urg, uint32(lt.urg))
	}
	if !want.AnyOpts && !optionsMatch(want.Options, lt.opts) {
		return fmt.Sprintf("bad outbound TCP options: expected: %s actual: %s", FormatOptions(want.Options), FormatOptions(lt.opts))
	}
	for i, o := range want.Options {
		if o.Kind == OptTimestamp && !want.AnyOpts {
			f.ts[o.TSVal] = lt.opts[i].TSVal
		}
	}
	return ""
}

// optionsMatch compares options kind by kind in order, NOPs included, and the bytes of
// every option but TS (whose val is not checked without --tcp_ts_tick_usecs and whose
// ecr packetdrill never checks outbound).
func optionsMatch(want, got []TCPOption) bool {
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		g := got[i]
		if w.Kind != g.Kind {
			return false
		}
		switch w.Kind {
		case OptTimestamp, OptNOP, OptEOL, OptSACKOK:
		case OptMSS, OptWScale:
			if w.Value != g.Value {
				return false
			}
		case OptSACK:
			if fmt.Sprint(w.Blocks) != fmt.Sprint(g.Blocks) {
				return false
			}
		default:
			if !bytes.Equal(w.Data, g.Data) {
				return false
			}
		}
	}
	return true
}

// scriptPacket renders a packet line as the script has it.
func scriptPacket(p *Packet) string {
	var b strings.Builder
	b.WriteString(p.Dir.String())
	if p.ECN != "" {
		fmt.Fprintf(&b, " [%s]", p.ECN)
	}
	switch p.Proto {
	case ProtoUDP:
		fmt.Fprintf(&b, " udp (%d)", p.UDP.Len)
		return b.String()
	case ProtoICMP:
		fmt.Fprintf(&b, " icmp %s %s", p.ICMP.Type, p.ICMP.Code)
		if p.ICMP.MTU != 0 {
			fmt.Fprintf(&b, " mtu %d", p.ICMP.MTU)
		}
		return strings.TrimSpace(b.String())
	}
	t := p.TCP
	fmt.Fprintf(&b, " %s %s", t.Flags, fmtSeq(t.Seq, t.Len))
	if t.Ack != nil {
		fmt.Fprintf(&b, " ack %d", *t.Ack)
	}
	if t.Win != nil {
		fmt.Fprintf(&b, " win %d", *t.Win)
	}
	if t.Urg != nil {
		fmt.Fprintf(&b, " urg %d", *t.Urg)
	}
	switch {
	case t.AnyOpts:
		b.WriteString(" <...>")
	case len(t.Options) > 0:
		b.WriteString(" " + FormatOptions(t.Options))
	}
	return b.String()
}

// livePacketText renders a packet the stack sent in the script's numbers.
func (r *runner) livePacketText(lp *livePacket) string {
	switch lp.proto {
	case ProtoUDP:
		return fmt.Sprintf("> udp (%d)", lp.udpLen)
	case ProtoICMP:
		return fmt.Sprintf("> icmp type %d code %d", lp.icmpType, lp.icmpCode)
	}
	t := lp.tcp
	s := fmt.Sprintf("> %s %s", t.flags, fmtSeq(t.seq-r.flow.localISN, uint32(len(t.payload))))
	if t.flags&header.TCPFlagACK != 0 {
		s += fmt.Sprintf(" ack %d", t.ack)
	}
	s += fmt.Sprintf(" win %d", t.win)
	if len(t.opts) > 0 {
		s += " " + FormatOptions(t.opts)
	}
	return s
}
