package filter

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// stmt compiles one statement to the expressions nft emits for it (compare with
// `nft --debug=netlink`).
func (c *compiler) stmt(dst []expr.Any, t *Table, s Stmt) ([]expr.Any, []CompiledSet, error) {
	switch s := s.(type) {
	case *Match:
		return c.match(dst, s)
	case *MatchTCPFlags:
		load := &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1}
		switch {
		case s.Mask == 0 && s.Op == OpImplicit:
			return append(dst, load, bitwise(1, []byte{byte(s.Flags)}), c.cmpExpr(OpNeq, []byte{0})), nil, nil
		case s.Mask == 0:
			return append(dst, load, c.cmpExpr(s.Op, []byte{byte(s.Flags)})), nil, nil
		}
		return append(dst, load, bitwise(1, []byte{byte(s.Mask)}), c.cmpExpr(s.Op, []byte{byte(s.Flags)})), nil, nil
	case *MatchNumgen:
		return append(dst, &expr.Numgen{Register: 1, Modulus: s.Mod, Type: s.Mode},
			c.cmpExpr(s.Op, binary.NativeEndian.AppendUint32(nil, s.Value))), nil, nil
	case *Counter:
		e := alloc(&c.counters)
		*e = expr.Counter{Packets: s.Packets, Bytes: s.Bytes}
		return append(dst, e), nil, nil
	case *Log:
		// nft sets level 4 (warn) unless the packet goes to an nflog group (nft's
		// src/netlink_linearize.c netlink_gen_log_stmt).
		l := &expr.Log{}
		if s.Prefix != "" {
			l.Key |= 1 << unix.NFTA_LOG_PREFIX
			l.Data = []byte(s.Prefix)
		}
		if s.HasGroup {
			l.Key |= 1 << unix.NFTA_LOG_GROUP
			l.Group = s.Group
		} else {
			l.Key |= 1 << unix.NFTA_LOG_LEVEL
			l.Level = expr.LogLevelWarning
		}
		return append(dst, l), nil, nil
	case *MetaSet:
		key, data := expr.MetaKeyMARK, binary.NativeEndian.AppendUint32(nil, s.Value)
		if s.Key == "nftrace" {
			key, data = expr.MetaKeyNFTRACE, []byte{byte(s.Value)}
		}
		return append(dst, &expr.Immediate{Register: 1, Data: data}, &expr.Meta{Key: key, SourceRegister: true, Register: 1}), nil, nil
	case *Verdict:
		e := alloc(&c.verdicts)
		*e = expr.Verdict{Chain: s.Chain}
		if int(s.Kind) < len(verdictKinds) {
			e.Kind = verdictKinds[s.Kind]
		}
		return append(dst, e), nil, nil
	case *Reject:
		return append(dst, &expr.Reject{Type: s.Type, Code: s.Code}), nil, nil
	case *NAT:
		return c.nat(dst, s)
	case *Masquerade:
		return append(dst, &expr.Masq{}), nil, nil
	case *Redirect:
		if s.Port == 0 {
			return append(dst, &expr.Redir{}), nil, nil
		}
		return append(dst, &expr.Immediate{Register: 1, Data: binary.BigEndian.AppendUint16(nil, s.Port)},
			&expr.Redir{RegisterProtoMin: 1, Flags: unix.NF_NAT_RANGE_PROTO_SPECIFIED}), nil, nil
	case *Notrack:
		return append(dst, &expr.Notrack{}), nil, nil
	case *PayloadSet:
		return c.payloadSet(dst, s), nil, nil
	}
	return nil, nil, fmt.Errorf("cannot compile %T", s)
}

// payloadSet compiles a header rewrite as nft does (nft --debug=netlink, nft 1.0.6).
func (c *compiler) payloadSet(dst []expr.Any, s *PayloadSet) []expr.Any {
	f := s.Field
	if f.Name == "ip ttl" {
		// nft rewrites the 16-bit word holding TTL and protocol so that the IPv4
		// checksum (RFC 1624 incremental update, csum at offset 10) stays right.
		return append(dst,
			&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: f.base, Offset: 8, Len: 2},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 2, Mask: []byte{0x00, 0xff}, Xor: []byte{s.Value[0], 0x00}},
			&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1, Base: f.base, Offset: 8, Len: 2,
				CsumType: expr.CsumTypeInet, CsumOffset: 10},
		)
	}
	w := &expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1, Base: f.base, Offset: f.offset, Len: uint32(len(s.Value))}
	switch f.l4 {
	case protoTCP:
		// A port is covered by the TCP checksum (RFC 9293 §3.1), at offset 16.
		w.CsumType, w.CsumOffset = expr.CsumTypeInet, 16
	case protoUDP:
		// RFC 768: the UDP checksum is at offset 6.
		w.CsumType, w.CsumOffset = expr.CsumTypeInet, 6
	}
	// The IPv6 hop limit is covered by no checksum (RFC 8200 §8.1).
	return append(dst, &expr.Immediate{Register: 1, Data: s.Value}, w)
}

var verdictKinds = [...]expr.VerdictKind{VerdictAccept: expr.VerdictAccept, VerdictDrop: expr.VerdictDrop,
	VerdictJump: expr.VerdictJump, VerdictGoto: expr.VerdictGoto, VerdictReturn: expr.VerdictReturn}

func (c *compiler) cmpExpr(op Op, data []byte) *expr.Cmp {
	o := expr.CmpOpEq
	if op == OpNeq {
		o = expr.CmpOpNeq
	}
	e := alloc(&c.cmps)
	*e = expr.Cmp{Op: o, Register: 1, Data: data}
	return e
}

func bitwise(n int, mask []byte) *expr.Bitwise {
	return &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(n), Mask: mask, Xor: make([]byte, n)}
}

func (c *compiler) load(f *Field, n int) expr.Any {
	switch f.kind {
	case kindMeta:
		e := alloc(&c.metas)
		*e = expr.Meta{Key: f.meta, Register: 1}
		return e
	case kindCt:
		return &expr.Ct{Key: expr.CtKeySTATE, Register: 1}
	}
	e := alloc(&c.payloads)
	*e = expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: f.base, Offset: f.offset, Len: uint32(n)}
	return e
}

func (c *compiler) match(dst []expr.Any, m *Match) ([]expr.Any, []CompiledSet, error) {
	f, size := m.Field, m.Field.dt.size()
	if m.Value.Set {
		cs := c.set(f.dt, m.Value.Elems)
		return append(dst, c.load(f, size), &expr.Lookup{SourceRegister: 1, SetName: cs.Set.Name, SetID: cs.Set.ID, Invert: m.Op == OpNeq}), []CompiledSet{cs}, nil
	}
	e := m.Value.Elems[0]
	switch {
	case f.dt == dtCtState:
		// A bitmask type: the bare form means "any of these bits" (nft's
		// OP_IMPLICIT on a bitmask becomes `& mask != 0`).
		return append(dst, c.load(f, size), bitwise(size, e.From), c.cmpExpr(OpNeq, make([]byte, size))), nil, nil
	case e.Prefix > 0 && e.Prefix%8 == 0:
		// nft loads only the prefix bytes when the prefix ends on a byte boundary.
		n := e.Prefix / 8
		return append(dst, c.load(f, n), c.cmpExpr(m.Op, e.From[:n])), nil, nil
	case e.Prefix > 0:
		return append(dst, c.load(f, size), bitwise(size, prefixMask(size, e.Prefix)), c.cmpExpr(m.Op, e.From)), nil, nil
	case e.To != nil && m.Op == OpNeq:
		return append(dst, c.load(f, size), &expr.Range{Op: expr.CmpOpNeq, Register: 1, FromData: e.From, ToData: e.To}), nil, nil
	case e.To != nil:
		return append(dst, c.load(f, size), &expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: e.From}, &expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: e.To}), nil, nil
	}
	return append(dst, c.load(f, size), c.cmpExpr(m.Op, e.From)), nil, nil
}

// set builds an anonymous constant set. Sets holding ranges or prefixes are interval
// sets, encoded as nft's set_to_intervals does: each interval is a start element and an
// end element (the first value after it) flagged NFT_SET_ELEM_INTERVAL_END, preceded by
// an end element at zero when the first interval does not start at zero.
func (c *compiler) set(dt dataType, es []Elem) CompiledSet {
	c.setID++
	s := &nftables.Set{ID: c.setID, Name: "__set%d", Anonymous: true, Constant: true, KeyType: dt.setType()}
	if dt == dtUint16 {
		// An integer in network order: nft records the key byte order in the set's
		// userdata and prints the elements by it.
		s.KeyByteOrder = binaryutil.BigEndian
	}
	interval := false
	for _, e := range es {
		if e.To != nil || e.Prefix > 0 {
			interval = true
		}
	}
	if !interval {
		var elems []nftables.SetElement
		for _, e := range es {
			elems = append(elems, nftables.SetElement{Key: e.From})
		}
		return CompiledSet{Set: s, Elems: elems}
	}
	s.Interval = true
	var elems []nftables.SetElement
	lo0, _ := es[0].bounds()
	if !isZero(lo0) {
		elems = append(elems, nftables.SetElement{Key: make([]byte, len(lo0)), IntervalEnd: true})
	}
	for _, e := range es {
		lo, hi := e.bounds()
		elems = append(elems, nftables.SetElement{Key: lo})
		if next, carry := increment(hi); !carry {
			elems = append(elems, nftables.SetElement{Key: next, IntervalEnd: true})
		}
	}
	return CompiledSet{Set: s, Elems: elems}
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func (c *compiler) nat(dst []expr.Any, n *NAT) ([]expr.Any, []CompiledSet, error) {
	typ := expr.NATTypeSourceNAT
	if n.Kind == "dnat" {
		typ = expr.NATTypeDestNAT
	}
	fam := uint32(unix.NFPROTO_IPV4)
	dt := dtIPv4
	if n.Family == FamilyIP6 {
		fam, dt = unix.NFPROTO_IPV6, dtIPv6
	}
	if m := n.Map; m != nil {
		c.setID++
		key := nftables.TypeInteger
		s := &nftables.Set{ID: c.setID, Name: "__map%d", Anonymous: true, Constant: true, IsMap: true, KeyType: key, DataType: dt.setType()}
		var elems []nftables.SetElement
		for _, e := range m.Elems {
			elems = append(elems, nftables.SetElement{Key: binary.NativeEndian.AppendUint32(nil, e.Key), Val: e.Addr})
		}
		return append(dst,
			&expr.Numgen{Register: 1, Modulus: m.Mod, Type: m.Mode},
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: s.Name, SetID: s.ID},
			&expr.NAT{Type: typ, Family: fam, RegAddrMin: 1},
		), []CompiledSet{{Set: s, Elems: elems}}, nil
	}
	out := append(dst, &expr.Immediate{Register: 1, Data: n.Addr})
	nat := &expr.NAT{Type: typ, Family: fam, RegAddrMin: 1}
	if n.Port != 0 {
		out = append(out, &expr.Immediate{Register: 2, Data: binary.BigEndian.AppendUint16(nil, n.Port)})
		nat.RegProtoMin, nat.Specified = 2, true
	}
	return append(out, nat), nil, nil
}
