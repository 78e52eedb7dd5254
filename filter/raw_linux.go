//go:build linux

package filter

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// exprAttrNames names the attributes of the kernel's expressions, by expression and
// attribute number (include/uapi/linux/netfilter/nf_tables.h, NFTA_<EXPR>_*), for the
// raw form of an unsupported rule. An attribute not named here prints as its number.
var exprAttrNames = map[string][]string{
	"payload":   {"", "dreg", "base", "offset", "len", "sreg", "csum_type", "csum_offset", "csum_flags"},
	"cmp":       {"", "sreg", "op", "data"},
	"meta":      {"", "dreg", "key", "sreg"},
	"bitwise":   {"", "sreg", "dreg", "len", "mask", "xor", "op", "data"},
	"immediate": {"", "dreg", "data"},
	"lookup":    {"", "set", "sreg", "dreg", "set_id", "flags"},
	"ct":        {"", "dreg", "key", "direction", "sreg"},
	"nat":       {"", "type", "family", "reg_addr_min", "reg_addr_max", "reg_proto_min", "reg_proto_max", "flags"},
	"log":       {"", "group", "prefix", "snaplen", "qthreshold", "level", "flags"},
	"range":     {"", "sreg", "op", "from", "to"},
	"reject":    {"", "type", "icmp_code"},
	"numgen":    {"", "dreg", "modulus", "type", "offset"},
	"masq":      {"", "flags", "reg_proto_min", "reg_proto_max"},
	"redir":     {"", "reg_proto_min", "reg_proto_max", "flags"},
	"limit":     {"", "rate", "unit", "burst", "type", "flags"},
	"quota":     {"", "bytes", "flags", "pad", "consumed"},
	"dup":       {"", "sreg_addr", "sreg_dev"},
	"fwd":       {"", "sreg_dev", "sreg_addr", "nfproto"},
	"queue":     {"", "num", "total", "flags", "sreg_qnum"},
	"exthdr":    {"", "dreg", "type", "offset", "len", "flags", "op", "sreg"},
	"fib":       {"", "dreg", "result", "flags"},
	"hash":      {"", "sreg", "dreg", "len", "modulus", "seed", "offset", "type", "set_name", "set_id"},
	"dynset":    {"", "set_name", "set_id", "op", "sreg_key", "sreg_data", "timeout", "expr", "pad", "flags", "exprs"},
	"objref":    {"", "imm_type", "imm_name", "set_sreg", "set_name", "set_id"},
	"rt":        {"", "dreg", "key"},
	"tproxy":    {"", "family", "reg_addr", "reg_port"},
	"socket":    {"", "key", "dreg", "level"},
	"counter":   {"", "bytes", "packets"},
	"connlimit": {"", "count", "flags"},
	"synproxy":  {"", "mss", "wscale", "flags"},
}

// rawExprs renders an NFTA_RULE_EXPRESSIONS payload as `[name attr value …]` per
// expression, in the kernel's order.
func rawExprs(raw []byte) string {
	var b strings.Builder
	list := attrs{b: raw}
	for list.next() {
		name, data := exprParts(list.data)
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("[" + string(name))
		rawAttrs(&b, exprAttrNames[string(name)], data, 0)
		b.WriteByte(']')
	}
	if list.bad {
		b.WriteString(" [malformed]")
	}
	return b.String()
}

func rawAttrs(b *strings.Builder, names []string, data []byte, depth int) {
	a := attrs{b: data}
	for a.next() {
		n := fmt.Sprint(a.typ)
		if depth == 0 && int(a.typ) < len(names) && names[a.typ] != "" {
			n = names[a.typ]
		}
		b.WriteString(" " + n + " " + rawValue(a.data, depth))
	}
	if a.bad {
		b.WriteString(" malformed")
	}
}

// rawValue prints an attribute's value: a nested NFTA_DATA as its value or verdict, a
// string as a string, 4 and 8 bytes as a (big-endian) number, anything else in hex.
func rawValue(v []byte, depth int) string {
	if depth == 0 {
		if d := (attrs{b: v}); d.next() && len(d.b) == 0 && !d.bad {
			switch d.typ {
			case unix.NFTA_DATA_VALUE:
				return fmt.Sprintf("0x%x", d.data)
			case unix.NFTA_DATA_VERDICT:
				var s strings.Builder
				s.WriteString("{verdict")
				rawAttrs(&s, []string{"", "code", "chain", "chain_id"}, d.data, 0)
				return s.String() + "}"
			}
		}
	}
	if n := len(v); n > 1 && v[n-1] == 0 && printableQuoted(string(v[:n-1])) {
		return `"` + string(v[:n-1]) + `"`
	}
	switch len(v) {
	case 4:
		return fmt.Sprint(int32(binary.BigEndian.Uint32(v)))
	case 8:
		return fmt.Sprint(binary.BigEndian.Uint64(v))
	}
	return fmt.Sprintf("0x%x", v)
}
