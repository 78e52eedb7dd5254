//go:build linux

package filter

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// A rule read back from the kernel is shown in nft syntax only when pktlab is sure the
// text is that rule: the statements the decompiler found (with the dependencies nft
// hides when it lists a rule still in them) are compiled again and the result compared, attribute by attribute, with the expressions the kernel dumped (its
// raw netlink bytes, not google/nftables' decoding of them, which skips what it does
// not know). Any difference (a dependency nft would have added, a flag, a port range,
// a field the decompiler read as another) makes the rule "unsupported", listed with its
// raw expressions: nothing is ever shown as a different rule.

// verifier recompiles rules of one listing; its compiler's slabs and its encoding
// buffer are reused from rule to rule.
type verifier struct {
	d   decompiler
	c   compiler
	buf []byte
	t   Table // the rule's table and the rule, reused
	r   Rule
}

// same reports whether stmts compile to the kernel's expressions of rule r (its
// NFTA_RULE_EXPRESSIONS payload) in a table of family fam. sets looks up the kernel's
// sets the rule's lookups name. An expression the dump decoded exactly (r.Strict) and
// that equals the compiled one as a value is the same; any other is encoded and compared
// with the kernel's bytes.
func (v *verifier) same(fam Family, stmts []Stmt, r dumpedRule, sets SetLookup) bool {
	v.t.Family, v.r.Stmts = fam, stmts
	v.c.reuse()
	exprs, compiled, err := v.c.rule(&v.t, &v.r)
	if err != nil {
		return false
	}
	k := attrs{b: r.Raw}
	nset := 0
	for i, e := range exprs {
		if !k.next() {
			return false
		}
		if verifyByValue && i < 64 && r.Strict&(1<<i) != 0 && sameValue(e, r.Exprs[i]) {
			continue
		}
		if v.buf, err = appendExpr(v.buf[:0], byte(fam), e); err != nil {
			return false
		}
		o := attrs{b: v.buf}
		if !o.next() || o.bad {
			return false
		}
		setName, isLookup, ok := sameExpr(k.data, o.data)
		if !ok {
			return false
		}
		if isLookup {
			if nset >= len(compiled) || !sameSet(string(setName), compiled[nset], sets) {
				return false
			}
			nset++
		}
	}
	return !k.next() && !k.bad && nset == len(compiled)
}

// verifyByValue lets same take an exactly decoded expression equal as a value for the
// same; TestListingCorpus turns it off to check that the listing does not change.
var verifyByValue = true

// sameValue reports a compiled expression equal to one the dump decoded exactly: the
// same type and fields (a counter's values are the kernel's, so any two counters are
// the same statement). For these types the fields are all the attributes the encoder
// writes and the exact decoder reads, so equal values are equal attributes.
func sameValue(c, k expr.Any) bool {
	switch c := c.(type) {
	case *expr.Payload:
		k, ok := k.(*expr.Payload)
		return ok && *c == *k
	case *expr.Cmp:
		k, ok := k.(*expr.Cmp)
		return ok && c.Op == k.Op && c.Register == k.Register && bytes.Equal(c.Data, k.Data)
	case *expr.Meta:
		k, ok := k.(*expr.Meta)
		return ok && *c == *k
	case *expr.Counter:
		_, ok := k.(*expr.Counter)
		return ok
	case *expr.Verdict:
		k, ok := k.(*expr.Verdict)
		return ok && *c == *k
	}
	return false
}

// sameExpr compares two NFTA_LIST_ELEM payloads: the kernel's k and pktlab's o. For a
// lookup it returns the name of the set the kernel's refers to.
func sameExpr(k, o []byte) (setName []byte, isLookup, ok bool) {
	kn, kd := exprParts(k)
	on, od := exprParts(o)
	if len(kn) == 0 || !bytes.Equal(kn, on) {
		return nil, false, false
	}
	switch string(kn) {
	case "counter":
		// Packet and byte values are the kernel's; the statement is the same.
		return nil, false, true
	case "lookup":
		return bytes.TrimRight(attrOf(kd, unix.NFTA_LOOKUP_SET), "\x00"), true, sameAttrs("lookup", kd, od, 0)
	}
	name := string(kn)
	return nil, false, sameOrdered(name, kd, od, 0) || sameAttrs(name, kd, od, 0)
}

// sameOrdered reports k and o holding the same attributes in the same order with the
// same values, nests compared the same way: how the kernel dumps most expressions back
// (the same bytes, but for the NLA_F_NESTED flag its nests lack and pktlab's and
// google/nftables' have). It is the cheap check; sameAttrs is the full one.
func sameOrdered(name string, k, o []byte, depth int) bool {
	ka, oa := attrs{b: k}, attrs{b: o}
	for ka.next() {
		if !oa.next() || ka.typ != oa.typ {
			return false
		}
		if !bytes.Equal(ka.data, oa.data) && (!nestedAttr(name, depth, ka.typ) || !sameOrdered(name, ka.data, oa.data, depth+1)) {
			return false
		}
	}
	return !oa.next() && !ka.bad && !oa.bad
}

// exprParts splits an expression into its name and its NFTA_EXPR_DATA.
func exprParts(b []byte) (name, data []byte) {
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case unix.NFTA_EXPR_NAME:
			name = bytes.TrimRight(a.data, "\x00")
		case unix.NFTA_EXPR_DATA:
			data = a.data
		}
	}
	if a.bad {
		return nil, nil
	}
	return name, data
}

// maxAttrs bounds the attributes of one expression level (the kernel's largest,
// dynset, has 10); more makes the comparison fail.
const maxAttrs = 16

type attr struct {
	typ  uint16
	data []byte
}

// sameAttrs compares two attribute lists of expression name at nesting depth: the
// same types with the same values, except that an attribute one side leaves out may be
// a 32-bit zero on the other (the kernel dumps defaults, such as a lookup's flags or a
// bitwise's operation, that nft and google/nftables do not send). A lookup's set name
// and id are compared through the sets instead.
func sameAttrs(name string, k, o []byte, depth int) bool {
	var ka, oa [maxAttrs]attr
	kl, ok1 := collect(k, ka[:0])
	ol, ok2 := collect(o, oa[:0])
	if !ok1 || !ok2 {
		return false
	}
	if depth == 0 {
		ol = kernelDefaults(name, ol)
	}
	for _, x := range kl {
		y, found := find(ol, x.typ)
		switch {
		case skipAttr(name, depth, x.typ):
		case !found:
			if !zeroLeaf(x.data) {
				return false
			}
		case nestedAttr(name, depth, x.typ):
			if !sameAttrs(name, x.data, y.data, depth+1) {
				return false
			}
		case !bytes.Equal(x.data, y.data):
			return false
		}
	}
	for _, y := range ol {
		if _, found := find(kl, y.typ); !found && !skipAttr(name, depth, y.typ) && !zeroLeaf(y.data) {
			return false
		}
	}
	return true
}

func collect(b []byte, into []attr) ([]attr, bool) {
	a := attrs{b: b}
	for a.next() {
		if len(into) == cap(into) {
			return into, false
		}
		for _, x := range into {
			if x.typ == a.typ {
				return into, false // a repeated attribute: not an expression pktlab writes
			}
		}
		into = append(into, attr{a.typ, a.data})
	}
	return into, !a.bad
}

func find(l []attr, typ uint16) (attr, bool) {
	for _, x := range l {
		if x.typ == typ {
			return x, true
		}
	}
	return attr{}, false
}

// zeroLeaf reports a zero integer attribute (u8 to u64), which the kernel and the
// library may leave out or send: a reject's icmp code for a tcp reset, a lookup's flags.
func zeroLeaf(b []byte) bool {
	switch len(b) {
	case 1, 2, 4, 8:
		return isZero(b)
	}
	return false
}

// kernelDefaults adds to the attributes pktlab sends for a NAT expression what the
// kernel fills in when it stores one (net/netfilter/nft_nat.c nft_nat_init, nft_redir.c,
// nft_masq.c): the maximum address and port registers default to the minimum ones, and
// the flags gain NF_NAT_RANGE_MAP_IPS with an address and NF_NAT_RANGE_PROTO_SPECIFIED
// with a port.
func kernelDefaults(name string, l []attr) []attr {
	var addrMin, addrMax, protoMin, protoMax, flags uint16
	switch name {
	case "nat":
		addrMin, addrMax, protoMin, protoMax, flags = unix.NFTA_NAT_REG_ADDR_MIN, unix.NFTA_NAT_REG_ADDR_MAX,
			unix.NFTA_NAT_REG_PROTO_MIN, unix.NFTA_NAT_REG_PROTO_MAX, unix.NFTA_NAT_FLAGS
	case "redir":
		protoMin, protoMax, flags = unix.NFTA_REDIR_REG_PROTO_MIN, unix.NFTA_REDIR_REG_PROTO_MAX, unix.NFTA_REDIR_FLAGS
	case "masq":
		protoMin, protoMax, flags = unix.NFTA_MASQ_REG_PROTO_MIN, unix.NFTA_MASQ_REG_PROTO_MAX, unix.NFTA_MASQ_FLAGS
	default:
		return l
	}
	var f uint32
	if x, ok := find(l, flags); ok && len(x.data) == 4 {
		f = binary.BigEndian.Uint32(x.data)
	}
	add := func(min, max uint16, bit uint32) {
		x, ok := find(l, min)
		if min == 0 || !ok {
			return
		}
		if _, ok := find(l, max); !ok {
			l = append(l, attr{max, x.data})
		}
		f |= bit
	}
	add(addrMin, addrMax, unix.NF_NAT_RANGE_MAP_IPS)
	add(protoMin, protoMax, unix.NF_NAT_RANGE_PROTO_SPECIFIED)
	out := l[:0]
	for _, x := range l {
		if x.typ != flags {
			out = append(out, x)
		}
	}
	if f != 0 {
		out = append(out, attr{flags, binary.BigEndian.AppendUint32(nil, f)})
	}
	return out
}

func skipAttr(name string, depth int, typ uint16) bool {
	return name == "lookup" && depth == 0 && (typ == unix.NFTA_LOOKUP_SET || typ == unix.NFTA_LOOKUP_SET_ID)
}

// nestedAttr reports the attributes that hold an NFTA_DATA nest (depth 0) and, inside
// one, the verdict nest (depth 1) (include/uapi/linux/netfilter/nf_tables.h).
func nestedAttr(name string, depth int, typ uint16) bool {
	if depth == 1 {
		return typ == unix.NFTA_DATA_VERDICT
	}
	if depth != 0 {
		return false
	}
	switch name {
	case "cmp":
		return typ == unix.NFTA_CMP_DATA
	case "immediate":
		return typ == unix.NFTA_IMMEDIATE_DATA
	case "range":
		return typ == unix.NFTA_RANGE_FROM_DATA || typ == unix.NFTA_RANGE_TO_DATA
	case "bitwise":
		return typ == unix.NFTA_BITWISE_MASK || typ == unix.NFTA_BITWISE_XOR || typ == nftaBitwiseData
	}
	return false
}

// sameSet compares the kernel's set name with the anonymous set pktlab would create for
// the rule: declaration and elements.
func sameSet(name string, want CompiledSet, sets SetLookup) bool {
	if sets == nil {
		return false
	}
	s, elems, err := sets(name, 0)
	if err != nil || !s.Anonymous || !s.Constant || s.Concatenation || s.HasTimeout || s.Dynamic {
		return false
	}
	w := want.Set
	if s.KeyType.GetNFTMagic() != w.KeyType.GetNFTMagic() || s.KeyType.Bytes != w.KeyType.Bytes ||
		s.Interval != w.Interval || s.IsMap != w.IsMap {
		return false
	}
	if s.IsMap && (s.DataType.GetNFTMagic() != w.DataType.GetNFTMagic() || s.DataType.Bytes != w.DataType.Bytes) {
		return false
	}
	return sameElems(elems, want.Elems)
}

func sameElems(a, b []nftables.SetElement) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(e nftables.SetElement) []byte {
		k := append(slices.Clone(e.Key), 0)
		if e.IntervalEnd {
			k[len(k)-1] = 1
		}
		return append(k, e.Val...)
	}
	ka, kb := make([][]byte, len(a)), make([][]byte, len(b))
	for i := range a {
		ka[i], kb[i] = key(a[i]), key(b[i])
		if a[i].VerdictData != nil || a[i].Timeout != 0 || len(a[i].KeyEnd) > 0 {
			return false
		}
	}
	slices.SortFunc(ka, bytes.Compare)
	slices.SortFunc(kb, bytes.Compare)
	for i := range ka {
		if !bytes.Equal(ka[i], kb[i]) {
			return false
		}
	}
	return true
}

// listRule turns one dumped rule into what a listing shows: the decompiled statements
// when they compile back to exactly the kernel's expressions, otherwise an unsupported
// rule carrying the raw expressions.
func (v *verifier) listRule(fam Family, r dumpedRule, sets SetLookup, ifs Interfaces) *Rule {
	var out *Rule
	comment, udOK := ruleComment(r.Userdata)
	switch {
	case r.Err != nil:
		out = &Rule{Unsupported: r.Err.Error()}
	case !subsetFamily(fam):
		out = &Rule{Unsupported: "a rule of a " + fam.String() + " table"}
	case !udOK:
		out = &Rule{Unsupported: "rule userdata other than a comment"}
	default:
		var full []Stmt
		out, full = v.d.rule(fam, r.Exprs, sets, ifs)
		if out.Unsupported == "" && !v.same(fam, full, r, sets) {
			out = &Rule{Unsupported: "the expressions differ from what the statements pktlab recognises compile to"}
		}
		out.Comment = comment
	}
	if out.Unsupported != "" {
		out.Stmts, out.Raw = nil, rawExprs(r.Raw)
	}
	out.Handle = r.Handle
	return out
}

// ruleComment reads a rule's userdata: libnftnl TLVs (type, length, value), of which
// nft writes NFTNL_UDATA_RULE_COMMENT (0, a NUL-terminated string). ok is false for
// userdata holding anything else.
func ruleComment(ud []byte) (comment string, ok bool) {
	for len(ud) > 0 {
		if len(ud) < 2 || int(ud[1]) > len(ud)-2 {
			return "", false
		}
		typ, val := ud[0], ud[2:2+int(ud[1])]
		ud = ud[2+int(ud[1]):]
		s := string(bytes.TrimRight(val, "\x00"))
		if typ != 0 || !printableQuoted(s) {
			return "", false
		}
		comment = s
	}
	return comment, true
}

// printableQuoted reports a string nft prints between double quotes as it is.
func printableQuoted(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' {
			return false
		}
	}
	return true
}

// nftaBitwiseData is NFTA_BITWISE_DATA (the shift amount), missing from x/sys/unix.
const nftaBitwiseData = 7
