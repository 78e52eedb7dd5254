package drill

import (
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/pktlab/pktlab/rawsock/header"
)

// packet parses a < or > line.
func (p *parser) packet() *Packet {
	pk := &Packet{Dir: Inbound}
	if p.tok.is(">") {
		pk.Dir = Outbound
	}
	p.advance()
	if p.tok.is("[") {
		p.advance()
		pk.ECN = p.word("an ECN codepoint (noecn, ect0, ect1, ce)")
		switch pk.ECN {
		case "noecn", "ect0", "ect1", "ce", "ect01":
		default:
			p.fail("unknown ECN codepoint %q (noecn, ect0, ect1, ce, ect01)", pk.ECN)
		}
		p.expect("]", "after the ECN codepoint")
	}
	switch {
	case p.tok.kind == tWord && p.tok.text == "udp":
		p.advance()
		pk.Proto, pk.UDP = ProtoUDP, &UDPSpec{}
		p.expect("(", "before the UDP payload length")
		pk.UDP.Len = p.length()
		p.expect(")", "after the UDP payload length")
	case p.tok.kind == tWord && p.tok.text == "icmp":
		p.advance()
		pk.Proto, pk.ICMP = ProtoICMP, p.icmp()
	default:
		pk.Proto, pk.TCP = ProtoTCP, p.tcp(pk.Dir)
	}
	return pk
}

func (p *parser) word(what string) string {
	if p.tok.kind != tWord {
		p.fail("expected %s, found %s", what, p.tok.describe())
	}
	w := p.tok.text
	p.advance()
	return w
}

func (p *parser) length() uint32 {
	at := p.tok.pos
	n := p.uint32Tok("a payload length")
	if n > maxPayload {
		p.failAt(at, "payload length %d is over %d", n, maxPayload)
	}
	return n
}

// flags reads packetdrill's flag letters: adjacent word and '.' tokens ("S.", "P.",
// ".", "FP.").
func (p *parser) flags() header.TCPFlags {
	start := p.tok
	var f header.TCPFlags
	end := start.off
	for (p.tok.kind == tWord || p.tok.is(".")) && p.tok.off == end {
		for i := 0; i < len(p.tok.text); i++ {
			x, ok := flagOf(p.tok.text[i])
			if !ok {
				p.fail("unknown TCP flag %q in %q (flags are S F R P . U E W)", p.tok.text[i], p.tok.text)
			}
			if f&x != 0 {
				p.fail("TCP flag %q given twice", p.tok.text[i])
			}
			f |= x
		}
		end = p.tok.end
		p.advance()
	}
	if end == start.off {
		p.failAt(start.pos, "expected TCP flags (S, S., ., P., F., R, …), udp or icmp, found %s", start.describe())
	}
	return f
}

// seqRange parses start:end(len) and checks that end-start is len.
func (p *parser) seqRange() (uint32, uint32) {
	at := p.tok.pos
	start := p.uint32Tok("a sequence number (start:end(length))")
	p.expect(":", "between the start and end sequence numbers")
	end := p.uint32Tok("the end sequence number")
	p.expect("(", "before the payload length")
	n := p.length()
	p.expect(")", "after the payload length")
	if end-start != n {
		p.failAt(at, "inconsistent segment: %d:%d is %d bytes, not (%d)", start, end, end-start, n)
	}
	return start, n
}

func (p *parser) tcp(dir Direction) *TCPSpec {
	t := &TCPSpec{Flags: p.flags(), NoOpts: true}
	t.Seq, t.Len = p.seqRange()
	for {
		switch {
		case p.tok.kind == tWord && (p.tok.text == "ack" || p.tok.text == "win" || p.tok.text == "urg"):
			w := p.tok.text
			p.advance()
			vat := p.tok.pos
			v := p.uint32Tok(w + " value")
			switch w {
			case "ack":
				t.Ack = &v
			case "win":
				if v > 65535 {
					p.failAt(vat, "win %d is over 65535 (the field is 16 bits; scaling is the wscale option)", v)
				}
				t.Win = &v
			case "urg":
				t.Urg = &v
			}
		case p.tok.is("<"):
			p.tcpOptions(t)
		default:
			if dir == Inbound && t.Win == nil {
				p.fail("an inbound TCP packet needs a window (win N), as in packetdrill")
			}
			if t.Ack != nil && t.Flags&header.TCPFlagACK == 0 {
				p.fail("ack given but the flags have no . (ACK)")
			}
			return t
		}
	}
}

func (p *parser) tcpOptions(t *TCPSpec) {
	p.advance()
	t.NoOpts = false
	if p.tok.is("...") {
		p.advance()
		t.AnyOpts = true
		p.expect(">", "after <...")
		return
	}
	for {
		if len(t.Options) >= maxOptions {
			p.fail("more than %d TCP options", maxOptions)
		}
		t.Options = append(t.Options, p.tcpOption())
		if p.tok.is(">") {
			p.advance()
			return
		}
		p.expect(",", "between TCP options (or > to end them)")
	}
}

func (p *parser) tcpOption() TCPOption {
	at := p.tok.pos
	name := p.word("a TCP option (mss, sackOK, TS, nop, wscale, sack, eol, FO, kind)")
	switch name {
	case "nop":
		return TCPOption{Kind: OptNOP}
	case "eol":
		return TCPOption{Kind: OptEOL}
	case "sackOK":
		return TCPOption{Kind: OptSACKOK}
	case "mss":
		v := p.uint32Tok("an MSS")
		if v > 65535 {
			p.failAt(at, "mss %d is over 65535", v)
		}
		return TCPOption{Kind: OptMSS, Value: v}
	case "wscale":
		v := p.uint32Tok("a window scale")
		if v > 255 {
			p.failAt(at, "wscale %d is over 255", v)
		}
		return TCPOption{Kind: OptWScale, Value: v}
	case "TS":
		o := TCPOption{Kind: OptTimestamp}
		p.keyword("val", "TS val N ecr M")
		o.TSVal = p.uint32Tok("a TS val")
		p.keyword("ecr", "TS val N ecr M")
		o.TSEcr = p.uint32Tok("a TS ecr")
		return o
	case "sack":
		return p.sackOption()
	case "FO":
		return TCPOption{Kind: OptFastOpen, Data: p.hexBytes(false)}
	case "kind":
		v := p.uint32Tok("an option kind")
		if v > 255 || v < 2 {
			p.failAt(at, "option kind %d is not 2 to 255 (0 is eol, 1 is nop)", v)
		}
		return TCPOption{Kind: OptKind(v), Data: p.hexBytes(false)}
	}
	p.failAt(at, "unknown TCP option %q (mss, sackOK, TS, nop, wscale, sack, eol, FO, kind N HEX)", name)
	return TCPOption{}
}

func (p *parser) keyword(w, form string) {
	if p.tok.kind != tWord || p.tok.text != w {
		p.fail("expected %q (%s), found %s", w, form, p.tok.describe())
	}
	p.advance()
}

func (p *parser) sackOption() TCPOption {
	o := TCPOption{Kind: OptSACK}
	for p.tok.kind == tNum {
		if len(o.Blocks) >= maxSACKs {
			p.fail("more than %d SACK blocks (RFC 2018 §3)", maxSACKs)
		}
		l := p.uint32Tok("a SACK block start")
		p.expect(":", "in a SACK block (start:end)")
		r := p.uint32Tok("a SACK block end")
		o.Blocks = append(o.Blocks, [2]uint32{l, r})
	}
	if len(o.Blocks) == 0 {
		p.fail("sack needs at least one block start:end")
	}
	return o
}

// hexBytes reads an optional run of hex digits written as adjacent number and word
// tokens ("0a0b", "abcd1234").
func (p *parser) hexBytes(required bool) []byte {
	at := p.tok.pos
	var b strings.Builder
	end := -1
	for (p.tok.kind == tNum || p.tok.kind == tWord) && (end < 0 || p.tok.off == end) {
		b.WriteString(p.tok.text)
		end = p.tok.end
		p.advance()
		if b.Len() > 2*maxOptBytes+2 {
			p.failAt(at, "option data is over %d bytes", maxOptBytes)
		}
	}
	s := strings.TrimPrefix(b.String(), "0x")
	if s == "" && !required {
		return nil
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		p.failAt(at, "option data %q is not an even number of hex digits", s)
	}
	return v
}

// icmp parses: TYPE [CODE] [mtu N] [[start:end(len)]].
func (p *parser) icmp() *ICMPSpec {
	at := p.tok.pos
	ic := &ICMPSpec{Type: p.word("an ICMP type (unreachable, time_exceeded, echo_request, echo_reply)")}
	if _, ok := icmpTypes[ic.Type]; !ok {
		p.failAt(at, "unknown ICMP type %q (%s)", ic.Type, strings.Join(icmpTypeNames(), ", "))
	}
	if p.tok.kind == tWord && p.tok.text != "mtu" {
		at = p.tok.pos
		ic.Code = p.word("an ICMP code")
		if _, ok := icmpCodes[ic.Code]; !ok {
			p.failAt(at, "unknown ICMP code %q (%s)", ic.Code, strings.Join(icmpCodeNames(), ", "))
		}
	}
	if p.tok.kind == tWord && p.tok.text == "mtu" {
		p.advance()
		v := p.uint32Tok("an MTU")
		if v > 65535 {
			p.fail("mtu %d is over 65535", v)
		}
		ic.MTU = v
	}
	if p.tok.is("[") {
		p.advance()
		q := &TCPSpec{}
		q.Seq, q.Len = p.seqRange()
		p.expect("]", "after the quoted segment")
		ic.Quoted = q
	}
	return ic
}

// ICMP types and codes by packetdrill's names (RFC 792; RFC 4443 for ICMPv6 is chosen
// when the script runs over IPv6).
var icmpTypes = map[string]uint8{"echo_reply": 0, "unreachable": 3, "source_quench": 4, "echo_request": 8, "time_exceeded": 11}

var icmpCodes = map[string]uint8{
	"net_unreachable": 0, "host_unreachable": 1, "protocol_unreachable": 2, "port_unreachable": 3,
	"frag_needed": 4, "source_route_failed": 5, "net_prohibited": 9, "host_prohibited": 10,
}

func sortedKeys(m map[string]uint8) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

func icmpTypeNames() []string { return sortedKeys(icmpTypes) }
func icmpCodeNames() []string { return sortedKeys(icmpCodes) }

// fmtSeq renders start:end(len).
func fmtSeq(seq, n uint32) string {
	return strconv.FormatUint(uint64(seq), 10) + ":" + strconv.FormatUint(uint64(seq+n), 10) + "(" + strconv.FormatUint(uint64(n), 10) + ")"
}
