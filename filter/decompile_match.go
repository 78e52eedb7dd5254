package filter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/pktlab/pktlab/rawsock/header"
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
	switch m.Field {
	case fieldNfproto, fieldProtocol:
		d.l3 = m.l3Family()
	case fieldL4proto, fieldIPProtocol:
		d.l4 = m.Value.Elems[0].From[0]
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
		// nft 1.0.6 merges != comparisons too, and lists them back as one != each.
		if bw != nil || e.To != nil || op != OpImplicit && op != OpNeq {
			return fmt.Errorf("unsupported: merged payload comparison")
		}
		data := e.From
		for _, f := range fs {
			n := f.dt.size()
			d.addMatch(d.match(f, op, d.value(Elem{From: data[:n]})))
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
	v := header.TCPFlags(e.From[0])
	switch {
	case bw == nil:
		if op == OpImplicit {
			op = OpEq
		}
		d.out = append(d.out, &MatchTCPFlags{Op: op, Flags: v})
	case op == OpNeq && v == 0:
		d.out = append(d.out, &MatchTCPFlags{Flags: header.TCPFlags(bw.Mask[0])})
	case v != 0:
		if op == OpImplicit {
			op = OpEq
		}
		d.out = append(d.out, &MatchTCPFlags{Op: op, Flags: v, Mask: header.TCPFlags(bw.Mask[0])})
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

// dropDeps removes the dependency matches nft hides when it lists a rule. nft
// (src/netlink_delinearize.c rule_parse_postprocess, src/payload.c
// payload_dependency_store/kill, nft 1.0.6) remembers a protocol match as the
// dependency of the header above it (meta nfproto/protocol for the network header;
// meta l4proto, and in ip tables ip protocol, for the transport header), a later one
// of the same level replacing it; a match or rewrite of a field of that header, or a
// statement that implies the protocol (reject with icmp, tcp flags, reject with tcp
// reset), hides the one remembered; any statement that is not a match forgets both,
// after it had its say.
func (d *decompiler) dropDeps() []Stmt {
	in := d.out
	if cap(d.drop) < len(in) {
		d.drop = make([]bool, len(in))
	}
	drop := d.drop[:len(in)]
	clear(drop)
	p := pendingDeps{l3: -1, l4: -1}
	for i, s := range in {
		p.kill(d.fam, s, drop)
		if !expressionStmt(s) {
			p = pendingDeps{l3: -1, l4: -1}
			continue
		}
		if m, ok := s.(*Match); ok {
			p.store(d.fam, i, m)
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

// pendingDeps are the dependency matches nft remembers while listing a rule: the
// indexes of the network and transport protocol matches (-1 for none) and what they
// select.
type pendingDeps struct {
	l3, l4 int
	l3fam  Family
	l4p    uint8
}

// store remembers m when it selects a network or transport protocol.
func (p *pendingDeps) store(fam Family, i int, m *Match) {
	if l3 := m.l3Family(); l3 != 0 {
		p.l3, p.l3fam = i, l3
	}
	if proto, ok := exactByte(m); ok && (m.Field == fieldL4proto || fam == FamilyIP && m.Field == fieldIPProtocol) {
		p.l4, p.l4p = i, proto
	}
}

// kill marks in drop the dependencies s makes redundant.
func (p *pendingDeps) kill(fam Family, s Stmt, drop []bool) {
	l3, l4 := false, false
	switch s := s.(type) {
	case *Match, *PayloadSet:
		f := fieldOf(s)
		l3 = f.l3 != 0
		l4 = f.l4 != 0 && f.l4 == p.l4p
		if m, ok := s.(*Match); ok && m.Field == fieldL4proto {
			// meta l4proto icmp implies ipv4 (nft's meta_may_dependency_kill).
			proto, ok := exactByte(m)
			l3 = ok && icmpFamily(proto) != 0 && icmpFamily(proto) == p.l3fam
		}
	case *MatchTCPFlags:
		l4 = p.l4p == protoTCP
	case *Reject:
		l3 = s.Proto == "icmp" || s.Proto == "icmpv6"
		l4 = s.Type == rejectTCPReset && (fam == FamilyIP || fam == FamilyIP6) && p.l4p == protoTCP
	}
	if l3 && p.l3 >= 0 {
		drop[p.l3], p.l3 = true, -1
	}
	if l4 && p.l4 >= 0 {
		drop[p.l4], p.l4 = true, -1
	}
}

// exactByte returns the one byte a match selects with an implicit equality.
func exactByte(m *Match) (byte, bool) {
	if m.Op != OpImplicit || m.Value.Set || m.Value.Elems[0].To != nil || m.Value.Elems[0].Prefix != 0 || len(m.Value.Elems[0].From) != 1 {
		return 0, false
	}
	return m.Value.Elems[0].From[0], true
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
