//go:build linux

package filter

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// pktlab dumps rules itself instead of calling nftables.Conn.GetRules once per chain.
// GetRules receives through mdlayher/netlink's default path, which peeks at each
// datagram and reads it with a buffer of exactly its size; the kernel sizes the next
// dump datagram after the largest buffer recvmsg was given (af_netlink.c
// netlink_recvmsg, max_recvmsg_len), so the dump stays in one-page datagrams of a few
// rules each. nf_tables_dump_rules walks the chain from its first rule again for every
// datagram, so reading a long chain that way costs the kernel time quadratic in the
// number of rules. nft reads with a 64 KB buffer; so does dumpRules (the kernel caps
// datagrams at 32 KB), and it asks for every rule of the namespace in one dump.
const dumpBufferSize = 64 << 10

// dumpedRule is one rule of a dump: its handle and expressions, decoded as
// google/nftables decodes them (expr/expr.go exprsFromBytes). Raw is the kernel's
// NFTA_RULE_EXPRESSIONS payload, which a listing checks Exprs against; Err is why the
// expressions could not be decoded (an expression type or attribute google/nftables
// does not know); Userdata is NFTA_RULE_USERDATA (nft keeps a rule's comment there).
type dumpedRule struct {
	Handle   uint64
	Exprs    []expr.Any
	Raw      []byte
	Userdata []byte
	Err      error
	// Strict has bit i set when raw expression i was decoded into Exprs[i] from
	// attributes that were all known and each given once, so that Exprs[i] holds
	// everything the kernel said of it (the verifier may then compare it as a value).
	Strict uint64
}

// nftDump asks the kernel for every object of one kind in the namespace fd
// (NFT_MSG_GET* with NLM_F_DUMP, family fam or NFPROTO_UNSPEC for all) and returns
// the replies of type reply (the matching NFT_MSG_NEW*) that hold an nfgenmsg header.
// bufSize is the receive buffer (0: mdlayher/netlink's default); what it means for a
// long dump is said at dumpBufferSize.
func nftDump(fd int, get, reply uint16, fam byte, bufSize int) ([]netlink.Message, error) {
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: fd, MessageBufferSize: bufSize})
	if err != nil {
		return nil, fmt.Errorf("dial netfilter netlink: %w", err)
	}
	defer conn.Close()
	msgs, err := conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | get), Flags: netlink.Request | netlink.Dump},
		Data:   []byte{fam, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil {
		return nil, err
	}
	out := msgs[:0]
	for _, m := range msgs {
		if len(m.Data) >= 4 && m.Header.Type == netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|reply) {
			out = append(out, m)
		}
	}
	return out, nil
}

// dumpRules reads every rule of the namespace fd, keyed by chainKey, each chain's rules
// in order.
func dumpRules(fd int) (map[string][]dumpedRule, error) {
	msgs, err := nftDump(fd, unix.NFT_MSG_GETRULE, unix.NFT_MSG_NEWRULE, unix.NFPROTO_UNSPEC, dumpBufferSize)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	out := map[string][]dumpedRule{}
	// Rules arrive chain by chain: the key is made again only when the chain changes,
	// and each chain's rules are a slice of one array.
	var lastFam byte
	var lastTable, lastChain []byte
	var key string
	var sl slab
	all := make([]dumpedRule, 0, len(msgs))
	first := 0 // the current chain's first rule in all
	for _, m := range msgs {
		fam := m.Data[0]
		var table, chain []byte
		var r dumpedRule
		a := attrs{b: m.Data[4:]}
		for a.next() {
			switch a.typ {
			case unix.NFTA_RULE_TABLE:
				table = bytes.TrimRight(a.data, "\x00")
			case unix.NFTA_RULE_CHAIN:
				chain = bytes.TrimRight(a.data, "\x00")
			case unix.NFTA_RULE_HANDLE:
				if len(a.data) != 8 {
					return nil, fmt.Errorf("decode rule of %s %s: handle of %d bytes", table, chain, len(a.data))
				}
				r.Handle = binary.BigEndian.Uint64(a.data)
			case unix.NFTA_RULE_EXPRESSIONS:
				// One rule that cannot be decoded is listed as unsupported; it never
				// fails the listing of the others.
				r.Raw = a.data
				r.Exprs, r.Strict, r.Err = sl.decodeExprs(fam, a.data)
			case unix.NFTA_RULE_USERDATA:
				r.Userdata = a.data
			}
		}
		if a.bad {
			return nil, fmt.Errorf("decode rule of %s %s: malformed attribute", table, chain)
		}
		if key == "" || fam != lastFam || !bytes.Equal(table, lastTable) || !bytes.Equal(chain, lastChain) {
			addChainRules(out, key, all[first:len(all):len(all)])
			lastFam, lastTable, lastChain = fam, table, chain
			key = chainKey(Family(fam), string(table), string(chain))
			first = len(all)
		}
		all = append(all, r)
	}
	addChainRules(out, key, all[first:len(all):len(all)])
	return out, nil
}

// addChainRules adds the rules rs of chain key to out (nothing for key ""); a dump
// gives a chain's rules in one run, so the slice is kept as it is.
func addChainRules(out map[string][]dumpedRule, key string, rs []dumpedRule) {
	switch {
	case key == "":
	case out[key] == nil:
		out[key] = rs
	default:
		out[key] = append(out[key], rs...)
	}
}

// decodeExprs decodes an NFTA_RULE_EXPRESSIONS list the way google/nftables does
// (expr/expr.go exprsFromBytes): expression types it does not know are skipped, and an
// immediate that loads nothing into the verdict register is a verdict. The expressions
// of common rules (payload, cmp, meta, counter, verdict) are decoded here without the
// library's attribute decoders, which cost two allocations per attribute; anything
// else, or anything unexpected, goes through the library.
//
// strict has bit i set for the expressions decoded here whose attributes were all known
// (see dumpedRule.Strict); it is 0 when the expressions do not map one to one to the
// list's elements.
func (sl *slab) decodeExprs(fam byte, b []byte) (exprs []expr.Any, strict uint64, err error) {
	if cap(sl.anys)-len(sl.anys) < 32 {
		sl.anys = make([]expr.Any, 0, slabSize)
	}
	// The rule's expressions are appended after the slab's used part; a rule with
	// more than fit moves to an array of its own, which append makes.
	start := len(sl.anys)
	exprs = sl.anys[start:start]
	list := attrs{b: b}
	aligned := true
	for elem := 0; list.next(); elem++ {
		var name []byte
		a := attrs{b: list.data}
		for a.next() {
			switch a.typ {
			case unix.NFTA_EXPR_NAME:
				name = bytes.TrimRight(a.data, "\x00") // as nlenc.String
				if string(name) == "notrack" {
					exprs = append(exprs, &expr.Notrack{})
				}
			case unix.NFTA_EXPR_DATA:
				if e, exact := sl.fastExpr(name, a.data); e != nil {
					if exact && elem < 64 {
						strict |= 1 << elem
					}
					exprs = append(exprs, e)
					continue
				}
				e := exprFromName(string(name))
				if e == nil {
					// google/nftables skips such an expression; a listing must not.
					return nil, 0, fmt.Errorf("expression %q unknown to google/nftables", name)
				}
				if err := expr.Unmarshal(fam, a.data, e); err != nil {
					return nil, 0, fmt.Errorf("decode %s expression: %w", name, err)
				}
				if imm, ok := e.(*expr.Immediate); ok && imm.Register == unix.NFT_REG_VERDICT && len(imm.Data) == 0 {
					e = &expr.Verdict{}
					if err := expr.Unmarshal(fam, a.data, e); err != nil {
						return nil, 0, err
					}
				}
				exprs = append(exprs, e)
			}
		}
		if a.bad {
			return nil, 0, fmt.Errorf("malformed expression attribute")
		}
		aligned = aligned && len(exprs) == elem+1
	}
	if list.bad {
		return nil, 0, fmt.Errorf("malformed expression list")
	}
	if cap(exprs) == cap(sl.anys)-start { // still in the slab
		sl.anys = sl.anys[:start+len(exprs)]
	}
	if !aligned {
		strict = 0
	}
	return exprs[:len(exprs):len(exprs)], strict, nil
}

// slab hands out the expressions of a dump from shared arrays, a few allocations per
// slabSize expressions instead of one per expression.
type slab struct {
	anys     []expr.Any
	payloads []expr.Payload
	cmps     []expr.Cmp
	metas    []expr.Meta
	counters []expr.Counter
	verdicts []expr.Verdict
}

// attrs walks netlink attributes (struct nlattr, include/uapi/linux/netlink.h) without
// allocating. bad is set when an attribute overruns the buffer.
type attrs struct {
	b    []byte
	typ  uint16
	data []byte
	bad  bool
}

func (a *attrs) next() bool {
	if len(a.b) < 4 {
		a.bad = a.bad || len(a.b) != 0
		return false
	}
	n := int(binary.NativeEndian.Uint16(a.b[0:2]))
	if n < 4 || n > len(a.b) {
		a.bad = true
		return false
	}
	a.typ = binary.NativeEndian.Uint16(a.b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
	a.data = a.b[4:n]
	a.b = a.b[min((n+3)&^3, len(a.b)):]
	return true
}

// attrOf returns the data of the first attribute of type typ in b, or nil.
func attrOf(b []byte, typ uint16) []byte {
	a := attrs{b: b}
	for a.next() {
		if a.typ == typ {
			return a.data
		}
	}
	return nil
}

// cString returns a NUL-terminated string attribute as a string.
func cString(b []byte) string { return string(bytes.TrimRight(b, "\x00")) }

// getBE32 returns a 32-bit big-endian attribute, 0 when it is not 4 bytes long.
func getBE32(b []byte) uint32 {
	if len(b) != 4 {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// getBE64 returns a 64-bit big-endian attribute, 0 when it is not 8 bytes long.
func getBE64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (a *attrs) u32() (uint32, bool) {
	if len(a.data) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(a.data), true
}

// fastExpr decodes the expression data of the types common rules are made of into
// what expr.Unmarshal would return (field by field as in google/nftables v0.3.0
// expr/{payload,cmp,meta,counter,verdict}.go and expr.go); nil sends the caller to the
// library, as does anything unexpected in the data. exact reports that every attribute
// was one of the type's, given once, so that the result holds all of the data.
func (sl *slab) fastExpr(name, data []byte) (e expr.Any, exact bool) {
	switch string(name) {
	case "payload":
		v, seen, _, exact, ok := exprAttrs(data, payloadU32s, 0)
		if !ok {
			return nil, false
		}
		p := alloc(&sl.payloads)
		*p = expr.Payload{DestRegister: v[unix.NFTA_PAYLOAD_DREG], SourceRegister: v[unix.NFTA_PAYLOAD_SREG],
			Base: expr.PayloadBase(v[unix.NFTA_PAYLOAD_BASE]), Offset: v[unix.NFTA_PAYLOAD_OFFSET], Len: v[unix.NFTA_PAYLOAD_LEN],
			CsumType: expr.PayloadCsumType(v[unix.NFTA_PAYLOAD_CSUM_TYPE]), CsumOffset: v[unix.NFTA_PAYLOAD_CSUM_OFFSET],
			CsumFlags: v[unix.NFTA_PAYLOAD_CSUM_FLAGS]}
		if seen&(1<<unix.NFTA_PAYLOAD_SREG) != 0 {
			p.OperationType = expr.PayloadWrite
		}
		return p, exact && seen&(1<<unix.NFTA_PAYLOAD_SREG|1<<unix.NFTA_PAYLOAD_DREG) != 1<<unix.NFTA_PAYLOAD_SREG|1<<unix.NFTA_PAYLOAD_DREG
	case "cmp":
		v, _, raw, exact, ok := exprAttrs(data, 1<<unix.NFTA_CMP_SREG|1<<unix.NFTA_CMP_OP, unix.NFTA_CMP_DATA)
		d := attrs{b: raw}
		value := d.next() && d.typ == unix.NFTA_DATA_VALUE
		if !ok || d.bad {
			return nil, false
		}
		c := alloc(&sl.cmps)
		*c = expr.Cmp{Register: v[unix.NFTA_CMP_SREG], Op: expr.CmpOp(v[unix.NFTA_CMP_OP])}
		if value {
			c.Data = d.data
		}
		return c, exact && value && !d.next() && !d.bad
	case "meta":
		v, seen, _, exact, ok := exprAttrs(data, 1<<unix.NFTA_META_KEY|1<<unix.NFTA_META_DREG|1<<unix.NFTA_META_SREG, 0)
		if !ok {
			return nil, false
		}
		m := alloc(&sl.metas)
		*m = expr.Meta{Key: expr.MetaKey(v[unix.NFTA_META_KEY]), Register: v[unix.NFTA_META_DREG]}
		if seen&(1<<unix.NFTA_META_SREG) != 0 {
			m.Register, m.SourceRegister = v[unix.NFTA_META_SREG], true
		}
		return m, exact && seen&(1<<unix.NFTA_META_SREG|1<<unix.NFTA_META_DREG) != 1<<unix.NFTA_META_SREG|1<<unix.NFTA_META_DREG
	case "counter":
		return sl.counter(data)
	case "immediate":
		return sl.verdict(data)
	}
	return nil, false
}

const payloadU32s = 1<<unix.NFTA_PAYLOAD_DREG | 1<<unix.NFTA_PAYLOAD_SREG | 1<<unix.NFTA_PAYLOAD_BASE |
	1<<unix.NFTA_PAYLOAD_OFFSET | 1<<unix.NFTA_PAYLOAD_LEN | 1<<unix.NFTA_PAYLOAD_CSUM_TYPE |
	1<<unix.NFTA_PAYLOAD_CSUM_OFFSET | 1<<unix.NFTA_PAYLOAD_CSUM_FLAGS

// exprAttrs reads the attributes of one expression's data: for each type whose bit is
// set in u32s its 32-bit big-endian value into v (and its bit into seen), for type raw
// (0 for none) its bytes. ok is false when such a value is not 4 bytes long or the
// attributes are malformed; exact is false when there were attributes of other types
// or one of them twice.
func exprAttrs(data []byte, u32s uint32, raw uint16) (v [32]uint32, seen uint32, rawData []byte, exact, ok bool) {
	a := attrs{b: data}
	exact = true
	for a.next() {
		switch {
		case raw != 0 && a.typ == raw:
			exact = exact && rawData == nil
			rawData = a.data
		case a.typ >= 32 || u32s&(1<<a.typ) == 0:
			exact = false
		default:
			x, good := a.u32()
			if !good {
				return v, seen, nil, false, false
			}
			exact = exact && seen&(1<<a.typ) == 0
			v[a.typ], seen = x, seen|1<<a.typ
		}
	}
	return v, seen, rawData, exact, !a.bad
}

// counter decodes a counter's packets and bytes (64-bit values). A listing compares
// counters by name only, so any counter the kernel dumps is exact.
func (sl *slab) counter(data []byte) (expr.Any, bool) {
	c := alloc(&sl.counters)
	a := attrs{b: data}
	for a.next() {
		if a.typ != unix.NFTA_COUNTER_BYTES && a.typ != unix.NFTA_COUNTER_PACKETS {
			continue
		}
		if len(a.data) != 8 {
			return nil, false
		}
		if a.typ == unix.NFTA_COUNTER_BYTES {
			c.Bytes = binary.BigEndian.Uint64(a.data)
		} else {
			c.Packets = binary.BigEndian.Uint64(a.data)
		}
	}
	if a.bad {
		return nil, false
	}
	return c, true
}

// verdict decodes an immediate that loads a verdict (NFTA_DATA_VERDICT in the verdict
// register); nil for any other immediate, which goes through the library. It is exact
// when the immediate holds only its register and data, the data only the verdict, and
// the verdict only its code and then, optionally, its chain.
func (sl *slab) verdict(data []byte) (expr.Any, bool) {
	var v expr.Verdict
	reg, verdict, exact := uint32(0), false, true
	a := attrs{b: data}
	for n := 0; a.next(); n++ {
		switch a.typ {
		case unix.NFTA_IMMEDIATE_DREG:
			r, ok := a.u32()
			if !ok {
				return nil, false
			}
			reg = r
		case unix.NFTA_IMMEDIATE_DATA:
			d := attrs{b: a.data}
			for d.next() {
				if d.typ == unix.NFTA_DATA_VALUE || d.typ == unix.NFTA_DATA_VERDICT && len(d.data) < 8 {
					return nil, false
				}
				if d.typ == unix.NFTA_DATA_VERDICT {
					// As expr.Verdict.unmarshal reads it: the code at [4:8], the
					// chain name from [12:].
					exact = exact && !verdict && verdictExact(d.data)
					verdict = true
					v.Kind = expr.VerdictKind(int32(binary.BigEndian.Uint32(d.data[4:8])))
					if len(d.data) > 12 {
						v.Chain = string(bytes.Trim(d.data[12:], "\x00"))
					}
				} else {
					exact = false
				}
			}
			if d.bad {
				return nil, false
			}
		default:
			exact = false
		}
		exact = exact && n < 2
	}
	if a.bad || reg != unix.NFT_REG_VERDICT || !verdict {
		return nil, false
	}
	pv := alloc(&sl.verdicts)
	*pv = v
	return pv, exact
}

// verdictExact reports an NFTA_DATA_VERDICT nest holding its code first (4 bytes) and
// at most a chain name after it, a string without NULs but its terminating ones: what
// the fixed offsets of expr.Verdict's decoding read completely.
func verdictExact(b []byte) bool {
	a := attrs{b: b}
	if !a.next() || a.typ != unix.NFTA_VERDICT_CODE || len(a.data) != 4 {
		return false
	}
	if a.next() {
		name := bytes.TrimRight(a.data, "\x00")
		if a.typ != unix.NFTA_VERDICT_CHAIN || bytes.IndexByte(name, 0) >= 0 || len(name) == 0 || a.next() {
			return false
		}
	}
	return !a.bad
}

// exprFromName is google/nftables' expr/expr.go exprFromName (v0.3.0), which is not
// exported.
func exprFromName(name string) expr.Any {
	switch name {
	case "ct":
		return &expr.Ct{}
	case "range":
		return &expr.Range{}
	case "meta":
		return &expr.Meta{}
	case "cmp":
		return &expr.Cmp{}
	case "counter":
		return &expr.Counter{}
	case "objref":
		return &expr.Objref{}
	case "payload":
		return &expr.Payload{}
	case "lookup":
		return &expr.Lookup{}
	case "immediate":
		return &expr.Immediate{}
	case "bitwise":
		return &expr.Bitwise{}
	case "redir":
		return &expr.Redir{}
	case "nat":
		return &expr.NAT{}
	case "limit":
		return &expr.Limit{}
	case "quota":
		return &expr.Quota{}
	case "dynset":
		return &expr.Dynset{}
	case "log":
		return &expr.Log{}
	case "exthdr":
		return &expr.Exthdr{}
	case "match":
		return &expr.Match{}
	case "target":
		return &expr.Target{}
	case "connlimit":
		return &expr.Connlimit{}
	case "queue":
		return &expr.Queue{}
	case "flow_offload":
		return &expr.FlowOffload{}
	case "reject":
		return &expr.Reject{}
	case "masq":
		return &expr.Masq{}
	case "hash":
		return &expr.Hash{}
	case "cthelper":
		return &expr.CtHelper{}
	case "synproxy":
		return &expr.SynProxy{}
	case "ctexpect":
		return &expr.CtExpect{}
	case "secmark":
		return &expr.SecMark{}
	case "cttimeout":
		return &expr.CtTimeout{}
	case "fib":
		return &expr.Fib{}
	case "numgen":
		return &expr.Numgen{}
	}
	return nil
}
