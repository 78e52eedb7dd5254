package filter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

var metaFields = map[expr.MetaKey]*Field{
	expr.MetaKeyNFPROTO:  fieldNfproto,
	expr.MetaKeyPROTOCOL: fieldProtocol,
}

func init() {
	for _, f := range fields {
		if f.kind == kindMeta {
			metaFields[f.meta] = f
		}
	}
}

// compare turns the pending load (+ bitwise) and a comparison into a match.
func (d *decompiler) compare(op Op, e *Elem, _ *Value) error {
	ld, bw := d.ld, d.bw
	d.ld, d.bw = nil, nil
	if op == OpEq {
		op = OpImplicit
	}
	switch l := ld.(type) {
	case *expr.Numgen:
		if bw != nil || e.To != nil || len(e.From) != 4 {
			return fmt.Errorf("unsupported: numgen comparison")
		}
		d.out = append(d.out, &MatchNumgen{Mode: l.Type, Mod: l.Modulus, Op: op, Value: binary.NativeEndian.Uint32(e.From)})
		return nil
	case *expr.Ct:
		if bw == nil || op != OpNeq || !isZero(e.From) {
			return fmt.Errorf("unsupported: ct state comparison")
		}
		d.out = append(d.out, d.match(lookupField("ct state"), OpImplicit, d.value(Elem{From: bw.Mask})))
		return nil
	case *expr.Meta:
		f := metaFields[l.Key]
		if f == nil || bw != nil || len(e.From) != f.dt.size() || f.dt.format(e.From, nil) == "" || e.To != nil && f.dt.format(e.To, nil) == "" {
			return fmt.Errorf("unsupported: meta key %d comparison", l.Key)
		}
		d.addMatch(d.match(f, op, d.value(*e)))
		return nil
	case *expr.Payload:
		return d.payloadCompare(l, bw, op, e)
	}
	return fmt.Errorf("unsupported: comparison without a load")
}

// addMatch appends m and updates the protocol context it establishes.
func (d *decompiler) addMatch(m *Match) {
	d.out = append(d.out, m)
	if m.Op == OpNeq || m.Value.Set || m.Value.Elems[0].To != nil {
		return
	}
	v := m.Value.Elems[0].From
	switch m.Field {
	case fieldNfproto:
		d.l3 = map[byte]Family{2: FamilyIP, 10: FamilyIP6}[v[0]]
	case fieldProtocol:
		d.l3 = map[uint16]Family{0x0800: FamilyIP, 0x86dd: FamilyIP6}[binary.BigEndian.Uint16(v)]
	case fieldL4proto, lookupField("ip protocol"):
		d.l4 = v[0]
	}
}

// payloadField returns the field at offset off of header base in the current context
// (the last one fields declares there), or nil.
func (d *decompiler) payloadField(base expr.PayloadBase, off uint32) *Field {
	var hit *Field
	for _, f := range fields {
		if f.kind != kindPayload || f.base != base || f.offset != off {
			continue
		}
		if base == expr.PayloadBaseNetworkHeader && f.l3 == d.l3 || base == expr.PayloadBaseTransportHeader && f.l4 == d.l4 {
			hit = f
		}
	}
	return hit
}

// payloadFields returns the fields a payload load covers in the current context (at
// most 16, one per byte of the longest field). The result is valid until the next
// call.
func (d *decompiler) payloadFields(p *expr.Payload) []*Field {
	out := d.fields[:0]
	off := p.Offset
	for off < p.Offset+p.Len {
		hit := d.payloadField(p.Base, off)
		if hit == nil || len(out) == cap(out) {
			return nil
		}
		out = append(out, hit)
		off += uint32(hit.dt.size())
		if len(out) == 1 && off > p.Offset+p.Len && hit.dt.prefixable() {
			return out // a shortened load: a byte-aligned prefix
		}
	}
	if off != p.Offset+p.Len {
		return nil
	}
	return out
}

func (d *decompiler) payloadCompare(p *expr.Payload, bw *expr.Bitwise, op Op, e *Elem) error {
	if p.Base == expr.PayloadBaseTransportHeader && p.Offset == 13 && p.Len == 1 && d.l4 == protoTCP {
		return d.tcpFlags(bw, op, e)
	}
	fs := d.payloadFields(p)
	if len(fs) == 0 {
		return fmt.Errorf("unsupported: payload @%d+%d len %d", p.Base, p.Offset, p.Len)
	}
	f := fs[0]
	size := f.dt.size()
	switch {
	case len(fs) > 1:
		if bw != nil || e.To != nil || op != OpImplicit {
			return fmt.Errorf("unsupported: merged payload comparison")
		}
		data := e.From
		for _, f := range fs {
			n := f.dt.size()
			d.addMatch(d.match(f, OpImplicit, d.value(Elem{From: data[:n]})))
			data = data[n:]
		}
		return nil
	case int(p.Len) < size:
		if bw != nil || e.To != nil {
			return fmt.Errorf("unsupported: partial load of %s", f.Name)
		}
		from := make([]byte, size)
		copy(from, e.From)
		d.addMatch(d.match(f, op, d.value(Elem{From: from, Prefix: int(p.Len) * 8})))
		return nil
	case bw != nil:
		bits := maskPrefix(bw.Mask)
		if !f.dt.prefixable() || bits <= 0 || e.To != nil {
			return fmt.Errorf("unsupported: masked %s", f.Name)
		}
		d.addMatch(d.match(f, op, d.value(Elem{From: e.From, Prefix: bits})))
		return nil
	}
	d.addMatch(d.match(f, op, d.value(*e)))
	return nil
}

func (d *decompiler) tcpFlags(bw *expr.Bitwise, op Op, e *Elem) error {
	if e.To != nil {
		return fmt.Errorf("unsupported: tcp flags range")
	}
	v := TCPFlag(e.From[0])
	switch {
	case bw == nil:
		if op == OpImplicit {
			op = OpEq
		}
		d.out = append(d.out, &MatchTCPFlags{Op: op, Flags: v})
	case op == OpNeq && v == 0:
		d.out = append(d.out, &MatchTCPFlags{Flags: TCPFlag(bw.Mask[0])})
	case v != 0:
		if op == OpImplicit {
			op = OpEq
		}
		d.out = append(d.out, &MatchTCPFlags{Op: op, Flags: v, Mask: TCPFlag(bw.Mask[0])})
	default:
		return fmt.Errorf("unsupported: tcp flags compared with 0")
	}
	return nil
}

func (d *decompiler) lookup(l *expr.Lookup) error {
	if d.sets == nil {
		return fmt.Errorf("unsupported: set lookup without set access")
	}
	s, elems, err := d.sets(l.SetName, l.SetID)
	if err != nil {
		return err
	}
	ld := d.ld
	d.ld, d.bw = nil, nil
	if l.IsDestRegSet {
		ng, ok := ld.(*expr.Numgen)
		if !ok || !s.IsMap {
			return fmt.Errorf("unsupported: map lookup")
		}
		m := &NumgenMap{Mode: ng.Type, Mod: ng.Modulus}
		for _, e := range elems {
			if len(e.Key) != 4 {
				return fmt.Errorf("unsupported: map key")
			}
			m.Elems = append(m.Elems, MapElem{Key: binary.NativeEndian.Uint32(e.Key), Addr: e.Val})
		}
		slices.SortFunc(m.Elems, func(a, b MapElem) int { return int(a.Key) - int(b.Key) })
		d.mp = m
		return nil
	}
	var f *Field
	switch x := ld.(type) {
	case *expr.Meta:
		f = metaFields[x.Key]
	case *expr.Ct:
		f = lookupField("ct state")
	case *expr.Payload:
		if fs := d.payloadFields(x); len(fs) == 1 && int(x.Len) == fs[0].dt.size() {
			f = fs[0]
		}
	}
	if f == nil {
		return fmt.Errorf("unsupported: lookup on %T", ld)
	}
	v, err := setValue(f.dt, s, elems)
	if err != nil {
		return err
	}
	op := OpImplicit
	if l.Invert {
		op = OpNeq
	}
	d.out = append(d.out, d.match(f, op, v))
	return nil
}

// setValue rebuilds an anonymous set's elements; interval sets are turned back from
// start/end elements into single values, ranges and prefixes.
func setValue(dt dataType, s *nftables.Set, elems []nftables.SetElement) (Value, error) {
	v := Value{Set: true}
	if !s.Interval {
		for _, e := range elems {
			v.Elems = append(v.Elems, Elem{From: e.Key})
		}
		sortElems(dt, v.Elems)
		return v, nil
	}
	es := slices.Clone(elems)
	slices.SortStableFunc(es, func(a, b nftables.SetElement) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		if a.IntervalEnd != b.IntervalEnd && a.IntervalEnd {
			return -1
		}
		return 0
	})
	for i, e := range es {
		if e.IntervalEnd {
			continue
		}
		lo := e.Key
		hi := bytes.Repeat([]byte{0xff}, len(lo))
		if i+1 < len(es) && es[i+1].IntervalEnd {
			hi = decrement(es[i+1].Key)
		}
		switch {
		case bytes.Equal(lo, hi):
			v.Elems = append(v.Elems, Elem{From: lo})
		case dt.prefixable() && rangeAsPrefix(lo, hi) > 0:
			v.Elems = append(v.Elems, Elem{From: lo, Prefix: rangeAsPrefix(lo, hi)})
		default:
			v.Elems = append(v.Elems, Elem{From: lo, To: hi})
		}
	}
	if len(v.Elems) == 0 {
		return v, fmt.Errorf("unsupported: empty interval set %s", s.Name)
	}
	return v, nil
}

// dropDeps removes the dependency matches nft hides when it lists a rule (nft's
// src/payload.c payload_dependency_kill and meta dependency handling).
func (d *decompiler) dropDeps() []Stmt {
	in := d.out
	drop := make([]bool, len(in))
	hasTCPReset := false
	for _, s := range in {
		if r, ok := s.(*Reject); ok && r.Type == rejectTCPReset {
			hasTCPReset = true
		}
	}
	for i, s := range in {
		m, ok := s.(*Match)
		if !ok {
			continue
		}
		switch m.Field {
		case fieldNfproto, fieldProtocol:
			// nft hides the network protocol check in front of `meta l4proto icmp`
			// (ipv4) or `meta l4proto ipv6-icmp` (ipv6), even when nothing else
			// follows (nft's src/netlink_delinearize.c meta_may_dependency_kill).
			if i+1 < len(in) {
				if lm, ok := in[i+1].(*Match); ok && lm.Field == fieldL4proto && lm.Op == OpImplicit && !lm.Value.Set &&
					lm.Value.Elems[0].To == nil && icmpFamily(lm.Value.Elems[0].From[0]) == m.l3Family() {
					drop[i] = true
				}
			}
			for _, later := range in[i+1:] {
				if f := fieldOf(later); f != nil && f.l3 != 0 {
					drop[i] = true
				}
				if r, ok := later.(*Reject); ok && (r.Proto == "icmp" || r.Proto == "icmpv6") {
					drop[i] = true
				}
			}
		case fieldL4proto:
			if m.Op != OpImplicit || m.Value.Set || i+1 >= len(in) {
				continue
			}
			proto := m.Value.Elems[0].From[0]
			if f := fieldOf(in[i+1]); f != nil {
				drop[i] = f.l4 == proto
			}
			if _, ok := in[i+1].(*MatchTCPFlags); ok {
				drop[i] = proto == protoTCP
			}
		}
	}
	// In ip tables nft hides `ip protocol P` in front of a P header match (its
	// payload dependency); in inet tables it keeps it (checked with nft 1.0.6).
	if d.fam == FamilyIP {
		for i, s := range in {
			m, ok := s.(*Match)
			if !ok || i+1 >= len(in) || m.Field.Name != "ip protocol" || m.Op != OpImplicit || m.Value.Set || m.Value.Elems[0].To != nil {
				continue
			}
			proto := m.Value.Elems[0].From[0]
			if f := fieldOf(in[i+1]); f != nil {
				drop[i] = drop[i] || f.l4 == proto
			}
			if _, ok := in[i+1].(*MatchTCPFlags); ok {
				drop[i] = drop[i] || proto == protoTCP
			}
		}
	}
	if hasTCPReset && (d.fam == FamilyIP || d.fam == FamilyIP6) {
		for i, s := range in {
			m, ok := s.(*Match)
			if ok && !drop[i] && (m.Field == fieldL4proto || m.Field.Name == "ip protocol") && m.Op == OpImplicit &&
				!m.Value.Set && m.Value.Elems[0].To == nil && m.Value.Elems[0].From[0] == protoTCP {
				drop[i] = true
				break
			}
		}
	}
	out := d.stmtList(in)[:0]
	for i, s := range in {
		if !drop[i] {
			out = append(out, s)
		}
	}
	return out
}

// l3Family returns the network protocol a `meta nfproto`/`meta protocol` equality
// selects, or 0.
func (m *Match) l3Family() Family {
	if m.Op != OpImplicit || m.Value.Set || m.Value.Elems[0].To != nil {
		return 0
	}
	v := m.Value.Elems[0].From
	switch m.Field {
	case fieldNfproto:
		return map[byte]Family{2: FamilyIP, 10: FamilyIP6}[v[0]]
	case fieldProtocol:
		return map[uint16]Family{0x0800: FamilyIP, 0x86dd: FamilyIP6}[binary.BigEndian.Uint16(v)]
	}
	return 0
}

// fieldOf returns the header field a match or a rewrite works on, or nil.
func fieldOf(s Stmt) *Field {
	switch s := s.(type) {
	case *Match:
		return s.Field
	case *PayloadSet:
		return s.Field
	}
	return nil
}
