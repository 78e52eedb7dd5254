package filter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Render prints rs exactly as `nft list ruleset` prints the same ruleset (nft's
// src/rule.c table_print, chain_print_declaration, chain_rules_print): tabs, a blank
// line between chains, `policy` always shown on base chains, counters with their values.
func Render(rs *Ruleset, ifs Interfaces) string {
	var b strings.Builder
	for _, t := range rs.Tables {
		RenderTable(&b, t, ifs)
	}
	return b.String()
}

// RenderTable prints one table as nft lists it.
func RenderTable(b *strings.Builder, t *Table, ifs Interfaces) {
	fmt.Fprintf(b, "table %s %s {\n", t.Family, t.Name)
	// nft prints a blank line between declarations: objects, then sets and
	// flowtables (marker lines here, kept together), then chains.
	start := b.Len()
	for _, o := range t.Objects {
		if b.Len() > start {
			b.WriteString("\n")
		}
		renderObject(b, o)
	}
	if len(t.Unsupported) > 0 && b.Len() > start {
		b.WriteString("\n")
	}
	for _, u := range t.Unsupported {
		b.WriteString("\t" + UnsupportedMarker + ": " + u + "\n")
	}
	for _, c := range t.Chains {
		if b.Len() > start {
			b.WriteString("\n")
		}
		fmt.Fprintf(b, "\tchain %s {\n", c.Name)
		if c.Unsupported != "" {
			b.WriteString("\t\t" + UnsupportedMarker + ": " + c.Unsupported + "\n")
		} else if bc := c.Base; bc != nil {
			fmt.Fprintf(b, "\t\ttype %s hook %s", bc.Type, hookName(t.Family, bc.Hook))
			if bc.Device != "" {
				fmt.Fprintf(b, " device \"%s\"", bc.Device)
			}
			pol := PolicyAccept
			if bc.Policy != nil {
				pol = *bc.Policy
			}
			fmt.Fprintf(b, " priority %s; policy %s;\n", priorityString(t.Family, bc.Hook, bc.Priority), pol)
		}
		for _, r := range c.Rules {
			b.WriteString("\t\t" + RenderRule(t.Family, r, ifs) + "\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
}

// UnsupportedMarker starts the line pktlab prints for what it cannot render exactly as
// nft does (a rule, a set, a base chain), followed by the reason and the kernel's raw
// expressions.
const UnsupportedMarker = "# pktlab: unsupported"

// RenderRule prints one rule's statements as nft lists them.
func RenderRule(fam Family, r *Rule, ifs Interfaces) string {
	if r.Unsupported != "" {
		out := UnsupportedMarker + ": " + r.Unsupported
		if r.Raw != "" {
			out += ": " + r.Raw
		}
		return out
	}
	return string(appendRule(make([]byte, 0, 96), fam, r, ifs))
}

// appendRule appends a rule's statements and comment, as nft lists them, to b. The
// statements of common rules (matches, counters, verdicts) are written in place; a
// listing of many rules (pktlab nft counters) spends most of its rendering there.
func appendRule(b []byte, fam Family, r *Rule, ifs Interfaces) []byte {
	for i, s := range r.Stmts {
		if i > 0 {
			b = append(b, ' ')
		}
		switch s := s.(type) {
		case *Match:
			b = append(append(b, s.Field.Name...), ' ')
			if s.Op == OpNeq {
				b = append(b, "!= "...)
			}
			b = appendValue(b, s.Field.dt, s.Value, ifs)
		case *Counter:
			b = strconv.AppendUint(append(b, "counter packets "...), s.Packets, 10)
			b = strconv.AppendUint(append(b, " bytes "...), s.Bytes, 10)
		case *Verdict:
			b = append(b, s.Kind.String()...)
			if s.Chain != "" {
				b = append(append(b, ' '), s.Chain...)
			}
		default:
			b = append(b, renderStmt(fam, s, ifs)...)
		}
	}
	if r.Comment != "" {
		if len(r.Stmts) > 0 {
			b = append(b, ' ')
		}
		b = append(append(append(b, `comment "`...), r.Comment...), '"')
	}
	return b
}

// renderStmt prints the statements appendRule does not write itself.
func renderStmt(fam Family, s Stmt, ifs Interfaces) string {
	switch s := s.(type) {
	case *MatchTCPFlags:
		var b strings.Builder
		b.WriteString("tcp flags ")
		if s.Op == OpNeq {
			b.WriteString("!= ")
		} else if s.Op == OpEq && s.Mask == 0 {
			b.WriteString("== ")
		}
		b.WriteString(s.Flags.NftString(","))
		if s.Mask != 0 {
			b.WriteString(" / " + s.Mask.NftString(","))
		}
		return b.String()
	case *MatchNumgen:
		op := ""
		if s.Op == OpNeq {
			op = "!= "
		}
		return fmt.Sprintf("numgen %s mod %d %s%d", numgenMode(s.Mode), s.Mod, op, s.Value)
	case *Log:
		out := "log"
		if s.Prefix != "" {
			out += ` prefix "` + s.Prefix + `"`
		}
		if s.HasGroup {
			out += fmt.Sprintf(" group %d", s.Group)
		}
		return out
	case *MetaSet:
		if s.Key == "nftrace" {
			return fmt.Sprintf("meta nftrace set %d", s.Value)
		}
		return fmt.Sprintf("meta mark set 0x%08x", s.Value)
	case *Reject:
		return renderReject(fam, s)
	case *NAT:
		return renderNAT(s)
	case *Masquerade:
		return "masquerade"
	case *Redirect:
		if s.Port != 0 {
			return fmt.Sprintf("redirect to :%d", s.Port)
		}
		return "redirect"
	case *Notrack:
		return "notrack"
	case *PayloadSet:
		return s.Field.Name + " set " + s.Field.dt.format(s.Value, ifs)
	}
	return fmt.Sprintf("# pktlab: cannot render %T", s)
}

func numgenMode(m uint32) string {
	if m == NumgenRandom {
		return "random"
	}
	return "inc"
}

func renderValue(dt dataType, v Value, ifs Interfaces) string {
	return string(appendValue(nil, dt, v, ifs))
}

// appendValue appends a match's value as nft prints it: elements, prefixes and ranges,
// in braces when it is a set.
func appendValue(b []byte, dt dataType, v Value, ifs Interfaces) []byte {
	if v.Set {
		b = append(b, "{ "...)
	}
	for i, e := range v.Elems {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = dt.appendFormat(b, e.From, ifs)
		switch {
		case e.Prefix > 0:
			b = strconv.AppendInt(append(b, '/'), int64(e.Prefix), 10)
		case e.To != nil:
			b = dt.appendFormat(append(b, '-'), e.To, ifs)
		}
	}
	if v.Set {
		b = append(b, " }"...)
	}
	return b
}

// renderReject hides the family's default (nft prints a bare `reject` for ICMP port
// unreachable in ip, ICMPv6 port unreachable in ip6 and icmpx port unreachable in inet).
func renderReject(fam Family, r *Reject) string {
	switch {
	case r.Type == rejectTCPReset:
		return "reject with tcp reset"
	case fam == FamilyIP && r.Proto == "icmp" && r.Code == 3,
		fam == FamilyIP6 && r.Proto == "icmpv6" && r.Code == 4,
		fam == FamilyINet && r.Proto == "icmpx" && r.Code == 1:
		return "reject"
	}
	names := map[string]map[uint8]string{"icmp": icmpCodeNames, "icmpv6": icmp6CodeNames, "icmpx": icmpxCodeNames}[r.Proto]
	code, ok := names[r.Code]
	if !ok {
		code = strconv.Itoa(int(r.Code))
	}
	return "reject with " + r.Proto + " " + code
}

func renderNAT(n *NAT) string {
	out := n.Kind
	if n.Explicit {
		out += " " + n.Family.String()
	}
	out += " to "
	if m := n.Map; m != nil {
		parts := make([]string, len(m.Elems))
		for i, e := range m.Elems {
			parts[i] = fmt.Sprintf("%d : %s", e.Key, addrString(e.Addr))
		}
		return out + fmt.Sprintf("numgen %s mod %d map { %s }", numgenMode(m.Mode), m.Mod, strings.Join(parts, ", "))
	}
	a := addrString(n.Addr)
	if n.Port == 0 {
		return out + a
	}
	if n.Family == FamilyIP6 {
		return out + fmt.Sprintf("[%s]:%d", a, n.Port)
	}
	return out + fmt.Sprintf("%s:%d", a, n.Port)
}

func addrString(b []byte) string {
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return fmt.Sprintf("0x%x", b)
	}
	return a.String()
}
