package filter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// SetLookup returns an anonymous set's declaration and elements by the name and id a
// lookup expression refers to.
type SetLookup func(name string, id uint32) (*nftables.Set, []nftables.SetElement, error)

// Decompile turns a rule's expressions back into statements of the subset, undoing
// what Compile (and nft) did: dependencies are dropped where nft drops them when
// listing, merged payload comparisons are split, interval sets are turned back into
// ranges and prefixes. A rule using anything outside the subset comes back with
// Unsupported set.
func Decompile(fam Family, exprs []expr.Any, sets SetLookup, ifs Interfaces) *Rule {
	var d decompiler
	r, _ := d.rule(fam, exprs, sets, ifs)
	return r
}

// rule is Decompile that also returns the statements with the dependencies nft hides
// still in them: what compiles back to exactly exprs. That list is valid until the
// next call; the rule is not (its matches and lists come from d's slabs, which one
// decompiler reuses from rule to rule of a listing).
func (d *decompiler) rule(fam Family, exprs []expr.Any, sets SetLookup, ifs Interfaces) (*Rule, []Stmt) {
	d.reset(fam, sets, ifs)
	r := allocGrowing(&d.rules)
	for _, e := range exprs {
		if err := d.expr(e); err != nil {
			r.Unsupported = strings.TrimPrefix(err.Error(), "unsupported: ")
			return r, nil
		}
	}
	switch {
	case d.ld != nil:
		r.Unsupported = fmt.Sprintf("a load (%T) without a comparison", d.ld)
	case d.gte != nil || d.mp != nil:
		r.Unsupported = "an unused map or range start"
	default:
		r.Stmts = d.dropDeps()
		return r, d.out
	}
	return r, nil
}

// maxImmReg bounds the registers an immediate may load: the kernel's are 0 (verdict),
// 1-4 (128-bit) and 8-23 (32-bit) (include/uapi/linux/netfilter/nf_tables.h
// nft_registers).
const maxImmReg = 24

type decompiler struct {
	fam  Family
	sets SetLookup
	ifs  Interfaces
	l3   Family
	l4   uint8
	out  []Stmt // the rule's statements so far, dependencies included; reused
	// pending load and bitwise, waiting for their comparison
	ld  expr.Any
	bw  *expr.Bitwise
	gte *expr.Cmp
	imm [maxImmReg][]byte // values loaded by immediates, nil when none
	mp  *NumgenMap

	// Slabs for what the rules of one listing are made of (see compiler).
	rules    []Rule
	matches  []Match
	elems    []Elem
	stmts    []Stmt
	counters []Counter
	verdicts []Verdict
	fields   [16]*Field // payloadFields' result, reused
	drop     []bool     // dropDeps' scratch
}

func (d *decompiler) reset(fam Family, sets SetLookup, ifs Interfaces) {
	d.fam, d.sets, d.ifs = fam, sets, ifs
	d.l3, d.l4 = 0, 0
	switch fam {
	case FamilyIP, FamilyIP6:
		d.l3 = fam
	}
	d.out = d.out[:0]
	d.ld, d.bw, d.gte, d.mp = nil, nil, nil, nil
	clear(d.imm[:])
}

// value returns the one-element Value of e, its list cut from a slab.
func (d *decompiler) value(e Elem) Value {
	if len(d.elems) == cap(d.elems) {
		d.elems = make([]Elem, 0, nextSlab(cap(d.elems)))
	}
	d.elems = append(d.elems, e)
	n := len(d.elems)
	return Value{Elems: d.elems[n-1 : n : n]}
}

// match returns a match from the slab.
func (d *decompiler) match(f *Field, op Op, v Value) *Match {
	m := allocGrowing(&d.matches)
	*m = Match{Field: f, Op: op, Value: v}
	return m
}

// stmtList copies stmts into a list cut from a slab.
func (d *decompiler) stmtList(stmts []Stmt) []Stmt {
	if cap(d.stmts)-len(d.stmts) < len(stmts) {
		d.stmts = make([]Stmt, 0, max(nextSlab(cap(d.stmts)), len(stmts)))
	}
	start := len(d.stmts)
	d.stmts = append(d.stmts, stmts...)
	return d.stmts[start:len(d.stmts):len(d.stmts)]
}

func (d *decompiler) expr(e expr.Any) error {
	if d.gte != nil {
		c, ok := e.(*expr.Cmp)
		if !ok || c.Op != expr.CmpOpLte {
			return fmt.Errorf("unsupported: cmp gte without lte")
		}
		from := d.gte.Data
		d.gte = nil
		return d.compare(OpEq, &Elem{From: from, To: c.Data}, nil)
	}
	switch e := e.(type) {
	case *expr.Meta:
		if e.SourceRegister {
			v, ok := d.immValue(e.Register)
			switch {
			case ok && e.Key == expr.MetaKeyMARK && len(v) == 4:
				d.out = append(d.out, &MetaSet{Key: "mark", Value: binary.NativeEndian.Uint32(v)})
			case ok && e.Key == expr.MetaKeyNFTRACE && len(v) == 1:
				d.out = append(d.out, &MetaSet{Key: "nftrace", Value: uint32(v[0])})
			default:
				return fmt.Errorf("unsupported: meta set key %d", e.Key)
			}
			return nil
		}
		d.ld, d.bw = e, nil
	case *expr.Payload:
		if e.OperationType == expr.PayloadWrite {
			return d.payloadWrite(e)
		}
		d.ld, d.bw = e, nil
	case *expr.Ct:
		if e.Key != expr.CtKeySTATE {
			return fmt.Errorf("unsupported: ct key %d", e.Key)
		}
		d.ld, d.bw = e, nil
	case *expr.Numgen:
		d.ld, d.bw = e, nil
	case *expr.Bitwise:
		if d.ld == nil || d.bw != nil || !isZero(e.Xor) && !d.isTTLLoad() {
			return fmt.Errorf("unsupported: bitwise")
		}
		d.bw = e
	case *expr.Cmp:
		switch e.Op {
		case expr.CmpOpEq:
			return d.compare(OpEq, &Elem{From: e.Data}, nil)
		case expr.CmpOpNeq:
			return d.compare(OpNeq, &Elem{From: e.Data}, nil)
		case expr.CmpOpGte:
			d.gte = e
			return nil
		}
		return fmt.Errorf("unsupported: cmp op %d", e.Op)
	case *expr.Range:
		if e.Op != expr.CmpOpNeq && e.Op != expr.CmpOpEq {
			return fmt.Errorf("unsupported: range op %d", e.Op)
		}
		op := OpEq
		if e.Op == expr.CmpOpNeq {
			op = OpNeq
		}
		return d.compare(op, &Elem{From: e.FromData, To: e.ToData}, nil)
	case *expr.Lookup:
		return d.lookup(e)
	case *expr.Immediate:
		if e.Register >= maxImmReg {
			return fmt.Errorf("unsupported: immediate into register %d", e.Register)
		}
		d.imm[e.Register] = e.Data
	default:
		return d.action(e)
	}
	return nil
}

// immValue returns what an immediate loaded into register reg.
func (d *decompiler) immValue(reg uint32) ([]byte, bool) {
	if reg >= maxImmReg || d.imm[reg] == nil {
		return nil, false
	}
	return d.imm[reg], true
}

func (d *decompiler) isTTLLoad() bool {
	p, ok := d.ld.(*expr.Payload)
	return ok && p.Base == expr.PayloadBaseNetworkHeader && p.Offset == 8 && p.Len == 2
}

// payloadWrite turns a payload write back into a PayloadSet: `ip ttl set` is a load,
// a bitwise and a write of the TTL/protocol word; the other rewrites write an
// immediate. The field must exist in the rule's protocol context: in an inet table a
// write at network header offset 8 without `meta nfproto ipv4` before it rewrites IPv6
// headers too, which is no `ip ttl set` (nft lists it as @nh,64,16 set …).
func (d *decompiler) payloadWrite(e *expr.Payload) error {
	if d.ld != nil {
		if !d.isTTLLoad() || d.bw == nil || e.Offset != 8 || e.Len != 2 || !bytes.Equal(d.bw.Mask, []byte{0, 0xff}) ||
			len(d.bw.Xor) != 2 || d.bw.Xor[1] != 0 || d.l3 != FamilyIP {
			return fmt.Errorf("unsupported: payload write")
		}
		d.out = append(d.out, &PayloadSet{Field: lookupField("ip ttl"), Value: d.bw.Xor[:1]})
		d.ld, d.bw = nil, nil
		return nil
	}
	v, ok := d.immValue(e.SourceRegister)
	fs := d.payloadFields(&expr.Payload{Base: e.Base, Offset: e.Offset, Len: e.Len})
	if !ok || len(fs) != 1 || fs[0].dt.size() != int(e.Len) || len(v) != int(e.Len) || !settable(fs[0]) {
		return fmt.Errorf("unsupported: payload write")
	}
	d.imm[e.SourceRegister] = nil
	d.out = append(d.out, &PayloadSet{Field: fs[0], Value: v})
	return nil
}

// settable reports the fields a PayloadSet of an immediate may write.
func settable(f *Field) bool {
	switch f.Name {
	case "ip6 hoplimit", "tcp sport", "tcp dport", "udp sport", "udp dport":
		return true
	}
	return false
}

func (d *decompiler) action(e expr.Any) error {
	var s Stmt
	switch e := e.(type) {
	case *expr.Verdict:
		// verdictKinds[0] is no verdict of the subset (VerdictKind counts from 1).
		k := slices.Index(verdictKinds[VerdictAccept:], e.Kind) + int(VerdictAccept)
		if k < int(VerdictAccept) {
			return fmt.Errorf("unsupported: verdict %d", e.Kind)
		}
		v := allocGrowing(&d.verdicts)
		*v = Verdict{Kind: VerdictKind(k), Chain: e.Chain}
		s = v
	case *expr.Counter:
		c := allocGrowing(&d.counters)
		*c = Counter{Packets: e.Packets, Bytes: e.Bytes}
		s = c
	case *expr.Log:
		l := &Log{}
		if e.Key&(1<<unix.NFTA_LOG_PREFIX) != 0 {
			l.Prefix = string(e.Data)
		}
		if e.Key&(1<<unix.NFTA_LOG_GROUP) != 0 {
			l.HasGroup, l.Group = true, e.Group
		}
		s = l
	case *expr.Reject:
		s = d.reject(e)
	case *expr.NAT:
		n, err := d.nat(e)
		if err != nil {
			return err
		}
		s = n
	case *expr.Masq:
		s = &Masquerade{}
	case *expr.Redir:
		r := &Redirect{}
		if e.RegisterProtoMin != 0 {
			v, _ := d.immValue(e.RegisterProtoMin)
			if len(v) != 2 {
				return fmt.Errorf("unsupported: redirect port")
			}
			r.Port = binary.BigEndian.Uint16(v)
		}
		s = r
	case *expr.Notrack:
		s = &Notrack{}
	default:
		return fmt.Errorf("unsupported expression %T", e)
	}
	d.out = append(d.out, s)
	return nil
}

func (d *decompiler) reject(e *expr.Reject) *Reject {
	r := &Reject{Type: e.Type, Code: e.Code}
	switch {
	case e.Type == rejectTCPReset:
	case e.Type == rejectICMPX:
		r.Proto = "icmpx"
	case d.fam == FamilyIP6 || d.l3 == FamilyIP6:
		r.Proto = "icmpv6"
	default:
		r.Proto = "icmp"
	}
	return r
}

func (d *decompiler) nat(e *expr.NAT) (*NAT, error) {
	n := &NAT{Kind: "snat", Family: FamilyIP, Explicit: d.fam == FamilyINet}
	if e.Type == expr.NATTypeDestNAT {
		n.Kind = "dnat"
	}
	if e.Family == unix.NFPROTO_IPV6 {
		n.Family = FamilyIP6
	}
	if d.mp != nil && e.RegAddrMin == 1 {
		n.Map, d.mp = d.mp, nil
		return n, nil
	}
	addr, ok := d.immValue(e.RegAddrMin)
	if e.RegAddrMin == 0 || !ok {
		return nil, fmt.Errorf("unsupported: nat without address")
	}
	n.Addr = addr
	if e.RegProtoMin != 0 {
		p, _ := d.immValue(e.RegProtoMin)
		if len(p) != 2 {
			return nil, fmt.Errorf("unsupported: nat port")
		}
		n.Port = binary.BigEndian.Uint16(p)
	}
	return n, nil
}
