package experiment

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/capfilter"
	"github.com/pktlab/pktlab/timeline"
	"gopkg.in/yaml.v3"
)

// view is what a condition of a frame or packet expectation reads: a captured frame,
// or a frame a packet socket of the file received.
type view struct {
	pkt   *timeline.Packet
	frame *timeline.Frame // a captured frame (relative sequence numbers); nil for a packet socket's
	data  []byte          // the bytes a capture filter reads
	ack   ackStat         // the frame's ack relation, when the expectation asks for it

	// a packet socket's frame, as recvfrom(2) reported it
	ptype  rawsock.PacketType
	eproto rawsock.Protocol
	length int
}

// cond is one field an expectation fixes. A frame matches when every cond of the
// expectation holds; a field left out matches anything (packetimpact's rule), so
// there is no "unset" value to test for.
type cond interface {
	holds(v *view) bool
	String() string // the field in the expectation's description
}

// field declares a key of a frame or packet expectation once: parse turns its value
// into the cond that matches and describes it. sel marks the fields that say which
// frames the expectation is about (where from and to, which protocol), as opposed to
// what it checks of them: frames that pass sel but fail another cond are shown as
// "of the same kind that differ".
type field struct {
	key   string
	sel   bool
	parse func(p *parser, v *yaml.Node) cond // nil when the value is bad (reported)
}

// fields is a table of fields in the order descriptions name them.
type fields []field

func (fs fields) keys() []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.key
	}
	return out
}

// conds is the parsed fields of one expectation, in table order.
type conds []fieldCond

type fieldCond struct {
	at  int // index in the table
	sel bool
	c   cond
}

// parse reads key k if the table has it; ok false means k is not a field of fs.
func (fs fields) parse(p *parser, cs *conds, k, v *yaml.Node) (ok bool) {
	for i, f := range fs {
		if f.key != k.Value {
			continue
		}
		if c := f.parse(p, v); c != nil {
			at, _ := slices.BinarySearchFunc(*cs, i, func(fc fieldCond, i int) int { return fc.at - i })
			*cs = slices.Insert(*cs, at, fieldCond{i, f.sel, c})
		}
		return true
	}
	return false
}

// holds reports whether every cond (of the selecting ones if sel) holds for v.
func (cs conds) holds(v *view, sel bool) bool {
	for _, fc := range cs {
		if fc.sel == sel && !fc.c.holds(v) {
			return false
		}
	}
	return true
}

// describe names the fixed fields, in table order.
func (cs conds) describe() []string {
	out := make([]string, len(cs))
	for i, fc := range cs {
		out[i] = fc.c.String()
	}
	return out
}

// has reports whether a cond of type C was given.
func hasCond[C cond](cs conds) bool {
	for _, fc := range cs {
		if _, ok := fc.c.(C); ok {
			return true
		}
	}
	return false
}

// intCond fixes an integer field: the frame must have it (get ok) and equal want.
type intCond struct {
	want   int
	format string // the description, with %d for want
	get    func(v *view) (int, bool)
}

func (c intCond) holds(v *view) bool { got, ok := c.get(v); return ok && got == c.want }
func (c intCond) String() string     { return fmt.Sprintf(c.format, c.want) }

// intField declares an integer field from lo to hi.
func intField(key, format string, lo, hi int64, get func(v *view) (int, bool)) field {
	return field{key: key, parse: func(p *parser, v *yaml.Node) cond {
		n, ok := p.intValue(v, key, lo, hi)
		if !ok {
			return nil
		}
		return intCond{n, format, get}
	}}
}

// boolField declares a flag of the IPv4 header, described as 0 or 1.
func boolField(key, format string, get func(v *view) bool) field {
	return field{key: key, parse: func(p *parser, v *yaml.Node) cond {
		b := 0
		if p.Bool(v, key) {
			b = 1
		}
		return intCond{b, format, func(v *view) (int, bool) { return b2i(get(v)), true }}
	}}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// intValue is Integer that says whether the value was good.
func (p *parser) intValue(v *yaml.Node, what string, lo, hi int64) (int, bool) {
	n := len(p.Errs)
	i := p.Integer(v, what, lo, hi)
	return i, len(p.Errs) == n
}

// tcpOnly wraps a getter of a TCP header field: other frames have no such field.
func tcpOnly(get func(v *view) int) func(v *view) (int, bool) {
	return func(v *view) (int, bool) { return get(v), v.pkt.Proto == "tcp" }
}

func always(get func(v *view) int) func(v *view) (int, bool) {
	return func(v *view) (int, bool) { return get(v), true }
}

// strCond fixes a field written as a word: proto, ecn, sll_pkttype, EtherType.
type strCond struct {
	want, format string
	get          func(v *view) string
}

func (c strCond) holds(v *view) bool { return c.get(v) == c.want }
func (c strCond) String() string     { return fmt.Sprintf(c.format, c.want) }

func choiceField(key, format string, list []string, note string, get func(v *view) string) field {
	return field{key: key, parse: func(p *parser, v *yaml.Node) cond {
		n := len(p.Errs)
		s := p.Choice(v, key, list, note)
		if len(p.Errs) != n {
			return nil
		}
		return strCond{s, format, get}
	}}
}

// addrCond fixes the source or destination address.
type addrCond struct {
	want   netip.Addr
	format string
	get    func(v *view) netip.Addr
}

func (c addrCond) holds(v *view) bool { return c.get(v) == c.want }
func (c addrCond) String() string     { return fmt.Sprintf(c.format, c.want) }

func addrField(key, format string, get func(v *view) netip.Addr) field {
	return field{key: key, sel: true, parse: func(p *parser, v *yaml.Node) cond {
		a := p.addr(v, key)
		if !a.IsValid() {
			return nil
		}
		return addrCond{a, format, get}
	}}
}

// selecting marks a field as one that says which frames the expectation is about.
func selecting(f field) field { f.sel = true; return f }

// filterCond is a tcpdump expression (pcap-filter(7)) over the frame's bytes.
type filterCond struct{ f *capfilter.Filter }

func (c filterCond) holds(v *view) bool { return c.f.Match(v.data) }
func (c filterCond) String() string     { return fmt.Sprintf("matching %q", c.f.String()) }

var filterField = field{key: "filter", sel: true, parse: func(p *parser, v *yaml.Node) cond {
	s, ok := p.Scalar(v, "filter")
	if !ok {
		return nil
	}
	f, err := capfilter.New(s, capfilter.LinkTypeEthernet)
	if err != nil {
		p.filterError(v, s, err)
		return nil
	}
	return filterCond{f}
}}

// flagsCond fixes TCP flags in tcpdump letters: exactly that set, or at least those.
type flagsCond struct {
	want  string
	exact bool
}

func (c flagsCond) holds(v *view) bool {
	if v.pkt.Proto != "tcp" {
		return false
	}
	if c.exact {
		return sameFlags(c.want, v.pkt.Flags.String())
	}
	for _, f := range c.want {
		if !strings.ContainsRune(v.pkt.Flags.String(), f) {
			return false
		}
	}
	return true
}

func (c flagsCond) String() string {
	if c.exact {
		return "flags [" + c.want + "]"
	}
	return "with flags " + c.want + " set"
}

func flagsField(key string, exact bool) field {
	return field{key: key, parse: func(p *parser, v *yaml.Node) cond {
		s, ok := p.Scalar(v, key)
		if !ok {
			return nil
		}
		if bad := strings.Trim(s, "SFRPUEW."); bad != "" {
			p.Errorf(v, "%s %q: TCP flags are written as tcpdump does: S F R P U E W and . for ACK", key, s)
			return nil
		}
		return flagsCond{s, exact}
	}}
}

// optionNames are TCP options as tcpdump prints them.
var optionNames = []string{"mss", "nop", "eol", "wscale", "sackOK", "sack", "TS", "md5", "tfo", "mptcp", "unknown"}

// optsCond fixes the TCP options: exactly these in order, including, or without them.
type optsCond struct {
	list []string
	mode string // "exactly", "including", "without"
}

func (c optsCond) holds(v *view) bool {
	opts := v.pkt.Options()
	switch c.mode {
	case "exactly":
		return slices.Equal(c.list, opts)
	case "including":
		for _, o := range c.list {
			if !slices.Contains(opts, o) {
				return false
			}
		}
		return true
	}
	for _, o := range c.list {
		if slices.Contains(opts, o) {
			return false
		}
	}
	return true
}

func (c optsCond) String() string {
	if c.mode == "exactly" {
		return "options exactly [" + strings.Join(c.list, ",") + "]"
	}
	return "options " + c.mode + " " + strings.Join(c.list, ",")
}

func optsField(key, mode string) field {
	return field{key: key, parse: func(p *parser, v *yaml.Node) cond {
		list := []string{}
		for _, o := range p.List(v, key) {
			if !slices.Contains(optionNames, o.Value) {
				p.Errorf(o, "TCP option %q: write it as tcpdump does (%s)", o.Value, strings.Join(optionNames, ", "))
			}
			list = append(list, o.Value)
		}
		if mode != "exactly" && len(list) == 0 {
			return nil // nothing to include or exclude: matches anything
		}
		return optsCond{list, mode}
	}}
}

// textCond is a field that only shows in the description: what it asks of the
// matching frames as a set is checked after matching (distinct_isn).
type textCond string

func (textCond) holds(*view) bool { return true }
func (c textCond) String() string { return string(c) }

// ackedCond fixes how many data segments of the other direction a frame newly
// acknowledges (the ack relation, read on the expectation's one interface).
type ackedCond int

func (c ackedCond) holds(v *view) bool { return v.ack.segments == int(c) }
func (c ackedCond) String() string {
	return fmt.Sprintf("newly acknowledging %d data segment(s)", int(c))
}

// ackDelayCond bounds the time from the last data segment a frame newly
// acknowledges to the frame.
type ackDelayCond struct{ d *AckDelay }

func (c ackDelayCond) holds(v *view) bool {
	st := v.ack
	return st.segments > 0 && st.delay >= c.d.Min && (c.d.Max == 0 || st.delay <= c.d.Max)
}

func (c ackDelayCond) String() string {
	return fmt.Sprintf("sent %s after the last data segment it acknowledges", c.d)
}

var protos = []string{"tcp", "udp", "icmp", "icmp6", "arp"}

var (
	protoField = selecting(choiceField("proto", "%s", protos, "", func(v *view) string { return v.pkt.Proto }))
	srcField   = addrField("src", "from %s", func(v *view) netip.Addr { return v.pkt.Src })
	dstField   = addrField("dst", "to %s", func(v *view) netip.Addr { return v.pkt.Dst })
	icmpType   = intField("icmp_type", "icmp type %d", 0, 255, always(func(v *view) int { return v.pkt.ICMPType }))
)

// frameFields are the fields of a frame expectation, in the order its description
// names them.
var frameFields = fields{
	filterField,
	protoField,
	srcField,
	selecting(intField("sport", "sport %d", 0, 65535, always(func(v *view) int { return v.pkt.SPort }))),
	dstField,
	selecting(intField("dport", "dport %d", 0, 65535, always(func(v *view) int { return v.pkt.DPort }))),
	flagsField("flags", true),
	flagsField("has_flags", false),
	intField("seq", "seq %d", 0, 1<<32-1, tcpOnly(func(v *view) int { return int(v.frame.RelSeq) })),
	intField("ack", "ack %d", 0, 1<<32-1, tcpOnly(func(v *view) int { return int(v.frame.RelAck) })),
	optsField("options", "exactly"),
	optsField("has_options", "including"),
	optsField("no_options", "without"),
	intField("mss", "mss %d", 0, 65535, always(func(v *view) int { return v.pkt.MSS })),
	intField("wscale", "wscale %d", 0, 14, always(func(v *view) int { return v.pkt.WScale })),
	intField("ttl", "ttl %d", 0, 255, always(func(v *view) int { return v.pkt.TTL })),
	intField("len", "payload length %d", 0, 65535, always(func(v *view) int { return v.pkt.PayloadLen })),
	intField("frag_offset", "fragment offset %d", 0, 65535, always(func(v *view) int { return v.pkt.FragOff })),
	boolField("mf", "MF %d", func(v *view) bool { return v.pkt.MF }),
	boolField("df", "DF %d", func(v *view) bool { return v.pkt.DF }),
	intField("urg", "urgent pointer %d", 0, 65535, always(func(v *view) int { return v.pkt.Urgent })),
	icmpType,
	intField("icmp_code", "icmp code %d", 0, 255, always(func(v *view) int { return v.pkt.ICMPCode })),
	intField("mtu", "mtu %d", 0, 65535, always(func(v *view) int { return v.pkt.MTU })),
	intField("window", "window %d", 0, 1<<30, always(func(v *view) int { return v.pkt.Window })),
	choiceField("ecn", "ecn %s", []string{"not-ect", "ect0", "ect1", "ce"}, "", func(v *view) string {
		return []string{"not-ect", "ect1", "ect0", "ce"}[v.pkt.ECN&3] // RFC 3168 §5: ECT(1) is 01
	}),
	{key: "distinct_isn", parse: func(p *parser, v *yaml.Node) cond {
		if !p.Bool(v, "distinct_isn") {
			return nil
		}
		return textCond("each with its own non-zero initial sequence number")
	}},
	{key: "acked_segments", parse: func(p *parser, v *yaml.Node) cond {
		n, ok := p.intValue(v, "acked_segments", 0, 1<<20)
		if !ok {
			return nil
		}
		return ackedCond(n)
	}},
	{key: "ack_delay", parse: func(p *parser, v *yaml.Node) cond {
		if d := p.ackDelay(v); d != nil {
			return ackDelayCond{d}
		}
		return nil
	}},
}

var etherTypes = map[string]rawsock.Protocol{"arp": rawsock.ProtoARP, "ipv4": rawsock.ProtoIPv4, "ipv6": rawsock.ProtoIPv6}

var packetTypes = []string{"host", "broadcast", "multicast", "otherhost", "outgoing"}

// packetFields are the fields of a packet expectation (a packet socket of the file),
// in the order its description names them.
var packetFields = fields{
	choiceField("ethertype", "EtherType %s", []string{"arp", "ipv4", "ipv6"}, "", func(v *view) string {
		for name, p := range etherTypes {
			if p == v.eproto {
				return name
			}
		}
		return ""
	}),
	protoField,
	srcField,
	dstField,
	icmpType,
	choiceField("type", "marked %s", packetTypes, "sll_pkttype", func(v *view) string { return v.ptype.String() }),
	intField("len", "%d bytes long", 0, 65535, always(func(v *view) int { return v.length })),
}
