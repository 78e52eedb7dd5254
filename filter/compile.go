package filter

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Compiled is a ruleset turned into google/nftables objects, in the order nft sends
// them in its batch: tables, chains, then for each rule its anonymous sets and the rule.
type Compiled struct {
	FlushRuleset bool
	Tables       []*nftables.Table
	Chains       []*nftables.Chain
	Rules        []CompiledRule
}

// CompiledRule is one rule with the anonymous sets it refers to.
type CompiledRule struct {
	Rule *nftables.Rule
	Sets []CompiledSet
}

// CompiledSet is an anonymous set and its elements.
type CompiledSet struct {
	Set   *nftables.Set
	Elems []nftables.SetElement
}

// Compile turns rs into nftables objects. It fails on rules that parse but cannot be
// expressed for their table (for example an l4 protocol conflict), and on rules nft
// refuses: a statement after a terminal one, a jump to a chain the table lacks.
func Compile(rs *Ruleset) (*Compiled, error) {
	out := &Compiled{FlushRuleset: rs.FlushRuleset}
	c := &compiler{}
	n := 0
	for _, t := range rs.Tables {
		for _, ch := range t.Chains {
			n += len(ch.Rules)
		}
	}
	out.Rules = make([]CompiledRule, 0, n)
	c.rules = make([]nftables.Rule, n) // one array for all rules: one allocation, not n
	for _, t := range rs.Tables {
		if err := c.table(out, t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// table compiles one table, its chains and its rules into out.
func (c *compiler) table(out *Compiled, t *Table) error {
	nt := &nftables.Table{Family: nftables.TableFamily(t.Family), Name: t.Name}
	out.Tables = append(out.Tables, nt)
	chains := map[string]*nftables.Chain{}
	for _, ch := range t.Chains {
		nc := chainToNft(nt, ch)
		chains[ch.Name] = nc
		out.Chains = append(out.Chains, nc)
	}
	for _, ch := range t.Chains {
		for _, r := range ch.Rules {
			if err := checkRule(t, r, chains); err != nil {
				return err
			}
			exprs, sets, err := c.rule(t, r)
			if err != nil {
				return &ParseError{Pos: r.Pos, Msg: err.Error()}
			}
			for _, s := range sets {
				s.Set.Table = nt
			}
			nr := &c.rules[len(out.Rules)]
			*nr = nftables.Rule{Table: nt, Chain: chains[ch.Name], Exprs: exprs}
			out.Rules = append(out.Rules, CompiledRule{Rule: nr, Sets: sets})
		}
	}
	return nil
}

// chainToNft converts a chain declaration.
func chainToNft(nt *nftables.Table, ch *Chain) *nftables.Chain {
	nc := &nftables.Chain{Name: ch.Name, Table: nt}
	if b := ch.Base; b != nil {
		nc.Type = nftables.ChainType(b.Type)
		nc.Hooknum = nftables.ChainHookRef(nftables.ChainHook(b.Hook))
		nc.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(b.Priority))
		nc.Device = b.Device
		if b.Policy != nil {
			pol := nftables.ChainPolicy(*b.Policy)
			nc.Policy = &pol
		}
	}
	return nc
}

// checkRule refuses what nft refuses in a rule whatever its table: a jump or goto to a
// chain the table lacks, and a statement after a terminal statement (a Ruleset built
// in Go rather than parsed may hold one).
func checkRule(t *Table, r *Rule, chains map[string]*nftables.Chain) error {
	for i, s := range r.Stmts {
		if IsTerminal(s) && i+1 < len(r.Stmts) {
			return &ParseError{Pos: r.Pos, Msg: fmt.Sprintf("statement after terminal statement has no effect (statement %d of the rule ends it; nft refuses the rule too)", i+1)}
		}
		if v, ok := s.(*Verdict); ok && (v.Kind == VerdictJump || v.Kind == VerdictGoto) && chains[v.Chain] == nil {
			return &ParseError{Pos: r.Pos, Token: fmt.Sprintf("%q", v.Chain), Msg: fmt.Sprintf("%s to a chain that table %s %s does not have", v.Kind, t.Family, t.Name)}
		}
	}
	return nil
}

// compiler holds what one Compile call shares between rules: expressions of the common
// types and the rules' expression lists are cut from arrays of slabSize (a 10 000-rule
// file otherwise costs some 100 000 small allocations), and the dependency matches nft
// inserts are built once per kind. Rules share these dependency matches and their
// values: nothing in the compiled output may be modified in place.
type compiler struct {
	setID uint32
	rules []nftables.Rule // the rules of the output, one array

	payloads []expr.Payload
	cmps     []expr.Cmp
	metas    []expr.Meta
	counters []expr.Counter
	verdicts []expr.Verdict
	exprs    []expr.Any // unused tail of the current array of expression lists

	l3deps   map[[2]Family]*Match
	l4deps   [256]*Match
	echoDeps [2]*Match // icmp, icmpv6
	run      []int     // merge's scratch
	items    []item    // merge's output, reused from rule to rule
	stmts    []Stmt    // expand's output, reused from rule to rule
}

const slabSize = 1024

// alloc returns a zeroed T from the slab *s, starting a new array of slabSize when it
// is full.
func alloc[T any](s *[]T) *T { return allocIn(s, slabSize) }

// allocGrowing is alloc for slabs whose users may need one value or thousands (one
// Decompile call, or a listing): each new array is twice the last, up to slabSize.
func allocGrowing[T any](s *[]T) *T { return allocIn(s, nextSlab(cap(*s))) }

func nextSlab(last int) int { return min(max(8, 2*last), slabSize) }

func allocIn[T any](s *[]T, n int) *T {
	if len(*s) == cap(*s) {
		*s = make([]T, 0, n)
	}
	*s = (*s)[:len(*s)+1]
	return &(*s)[len(*s)-1]
}

// item is a match or statement after nft's evaluation step: dependencies made explicit
// and adjacent payload comparisons merged (nft's src/rule.c stmt_reduce).
type item struct {
	stmt Stmt
	// merged payload comparison, when stmt is nil.
	load *expr.Payload
	op   Op
	data []byte
}

// Dependency fields nft inserts (nft's payload_gen_dependency / meta dependencies).
var (
	fieldNfproto  = &Field{Name: "meta nfproto", kind: kindMeta, meta: expr.MetaKeyNFPROTO, dt: dtNfproto}
	fieldProtocol = &Field{Name: "meta protocol", kind: kindMeta, meta: expr.MetaKeyPROTOCOL, dt: dtEthertype}
	fieldL4proto  = lookupField("meta l4proto")
	// fieldIPProtocol is `ip protocol`, which in ip tables is a dependency too.
	fieldIPProtocol = lookupField("ip protocol")
)

func single(b []byte) Value { return Value{Elems: []Elem{{From: b}}} }

// l3Dep returns the dependency a network-header field of l3 needs in family fam.
func l3Dep(fam, l3 Family) *Match {
	switch fam {
	case FamilyINet:
		return &Match{Field: fieldNfproto, Value: single([]byte{byte(l3)})}
	case FamilyNetdev:
		et := map[Family]uint16{FamilyIP: unix.ETH_P_IP, FamilyIP6: unix.ETH_P_IPV6}[l3]
		return &Match{Field: fieldProtocol, Value: single(binary.BigEndian.AppendUint16(nil, et))}
	}
	return nil
}

func l4Dep(proto uint8) *Match { return &Match{Field: fieldL4proto, Value: single([]byte{proto})} }

func (c *compiler) l3Dep(fam, l3 Family) *Match {
	k := [2]Family{fam, l3}
	d, ok := c.l3deps[k]
	if !ok {
		if c.l3deps == nil {
			c.l3deps = map[[2]Family]*Match{}
		}
		d = l3Dep(fam, l3)
		c.l3deps[k] = d
	}
	return d
}

func (c *compiler) l4Dep(proto uint8) *Match {
	if c.l4deps[proto] == nil {
		c.l4deps[proto] = l4Dep(proto)
	}
	return c.l4deps[proto]
}

// echoDep is the dependency nft inserts before `icmp id`/`icmp sequence` (and the
// icmpv6 ones) when the rule has not matched an echo type: an anonymous set lookup
// `icmp type { echo-reply, echo-request }`, which nft lists back as written.
func (c *compiler) echoDep(proto uint8) *Match {
	i, f := 0, lookupField("icmp type")
	v := Value{Set: true, Elems: []Elem{{From: []byte{icmpEchoReply}}, {From: []byte{icmpEchoRequest}}}}
	if proto == protoICMPv6 {
		i, f = 1, lookupField("icmpv6 type")
		v.Elems = []Elem{{From: []byte{icmp6EchoRequest}}, {From: []byte{icmp6EchoReply}}}
	}
	if c.echoDeps[i] == nil {
		c.echoDeps[i] = &Match{Field: f, Value: v}
	}
	return c.echoDeps[i]
}

// allEcho reports whether every value of an icmp type match is an echo type.
func allEcho(m *Match) bool {
	for _, e := range m.Value.Elems {
		if e.To != nil || !isEcho(m.Field.l4, e.From[0]) {
			return false
		}
	}
	return true
}

// l3Family returns the network protocol a `meta nfproto`/`meta protocol` equality
// selects, or 0.
func (m *Match) l3Family() Family {
	if m.Op != OpImplicit || m.Value.Set || m.Value.Elems[0].To != nil {
		return 0
	}
	v := m.Value.Elems[0].From
	switch {
	case m.Field == fieldNfproto && v[0] == unix.NFPROTO_IPV4, m.Field == fieldProtocol && binary.BigEndian.Uint16(v) == unix.ETH_P_IP:
		return FamilyIP
	case m.Field == fieldNfproto && v[0] == unix.NFPROTO_IPV6, m.Field == fieldProtocol && binary.BigEndian.Uint16(v) == unix.ETH_P_IPV6:
		return FamilyIP6
	}
	return 0
}

// deps is the protocol context expand builds up while walking a rule.
type deps struct {
	l3   Family
	l4   uint8
	echo bool // an echo type is established (icmp id/sequence need no dependency)
}

// fieldDeps appends the dependencies field f needs that the rule has not established
// yet: the network protocol of a network header field, the transport protocol (and for
// icmp/icmpv6 its network protocol) of a transport header field, and the echo type of
// icmp id/sequence.
func (c *compiler) fieldDeps(out []Stmt, fam Family, f *Field, st *deps) []Stmt {
	if f.l3 != 0 && st.l3 == 0 {
		if d := c.l3Dep(fam, f.l3); d != nil {
			out = append(out, d)
		}
		st.l3 = f.l3
	}
	if f.l4 != 0 && st.l4 == 0 {
		// An icmp/icmpv6 dependency brings its own network protocol check in inet
		// and netdev (nft: meta nfproto ipv4 meta l4proto icmp).
		if nf := icmpFamily(f.l4); nf != 0 && st.l3 == 0 {
			if d := c.l3Dep(fam, nf); d != nil {
				out = append(out, d)
			}
			st.l3 = nf
		}
		out = append(out, c.l4Dep(f.l4))
		st.l4 = f.l4
	}
	if f.echo && !st.echo {
		out = append(out, c.echoDep(f.l4))
		st.echo = true
	}
	return out
}

// matchCtx records what a match establishes about the packet.
func matchCtx(m *Match, st *deps) {
	if m.Op == OpNeq {
		return
	}
	if (m.Field.dt == dtICMPType || m.Field.dt == dtICMP6Type) && allEcho(m) {
		st.echo = true
	}
	if (m.Field == fieldL4proto || m.Field == fieldIPProtocol) && !m.Value.Set && m.Value.Elems[0].To == nil {
		st.l4 = m.Value.Elems[0].From[0]
	}
	if l3 := m.l3Family(); l3 != 0 {
		st.l3 = l3
	}
}

// expand inserts the protocol dependencies nft would insert. The result is valid until
// the next call.
func (c *compiler) expand(t *Table, r *Rule) []Stmt {
	out := c.stmts[:0]
	var front []Stmt
	var st deps
	needTCP := false
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case *Match:
			out = c.fieldDeps(out, t.Family, s.Field, &st)
			matchCtx(s, &st)
		case *PayloadSet:
			out = c.fieldDeps(out, t.Family, s.Field, &st)
		case *MatchTCPFlags:
			if st.l4 == 0 {
				out = append(out, c.l4Dep(protoTCP))
				st.l4 = protoTCP
			}
		case *Reject:
			switch {
			case s.Type == rejectTCPReset:
				needTCP = true
			case s.Proto == "icmp" && t.Family == FamilyINet && st.l3 == 0:
				front = append(front, c.l3Dep(t.Family, FamilyIP))
			case s.Proto == "icmpv6" && t.Family == FamilyINet && st.l3 == 0:
				front = append(front, c.l3Dep(t.Family, FamilyIP6))
			}
		}
		out = append(out, s)
	}
	if needTCP && st.l4 == 0 {
		front = append(front, c.l4Dep(protoTCP))
	}
	c.stmts = out
	if front == nil {
		return out
	}
	return append(front, out...)
}

// mergeable returns s when it is a payload comparison nft's payload merge may combine:
// a payload field against one value (nft 1.0.6 takes != as well as ==), else nil.
func mergeable(s Stmt) *Match {
	m, ok := s.(*Match)
	if !ok || m.Field.kind != kindPayload || m.Value.Set || m.Value.Elems[0].To != nil || m.Value.Elems[0].Prefix != 0 {
		return nil
	}
	return m
}

// expressionStmt reports the statements nft evaluates as expressions (matches). Any
// other statement ends a run of payload comparisons that may merge.
func expressionStmt(s Stmt) bool {
	switch s.(type) {
	case *Match, *MatchTCPFlags, *MatchNumgen:
		return true
	}
	return false
}

// sameOpClass reports ops nft's relational_ops_match takes as the same: an implicit
// comparison is an equality.
func sameOpClass(a, b Op) bool { return (a == OpNeq) == (b == OpNeq) }

// merge combines payload comparisons as nft 1.0.6's stmt_reduce and payload_do_merge
// (src/rule.c) do. The payload comparisons of a rule are gathered (other matches in
// between do not stop the gathering; another statement does, once two are gathered:
// nft 1.0.6 goes on past it with fewer); each gathering is sorted by header and
// offset, and adjacent ones with the same operator become one load and compare while
// the merged load still fits nft's fast path (at most 4 bytes). The merged comparison
// takes the place of the first of its fields in header order, or of the field that
// names the next protocol (ip protocol) when it holds one; every other statement
// keeps its place, so `ip daddr A ip saddr B` stays in that order. The other
// comparisons of a merged group are left as empty items, for the caller to skip. The
// result is valid until the next call.
func (c *compiler) merge(stmts []Stmt) []item {
	out := c.items[:0]
	sa := c.run[:0]
	for i, s := range stmts {
		out = append(out, item{stmt: s})
		switch {
		case !expressionStmt(s) && len(sa) >= 2:
			mergeGathered(out, sa)
			sa = sa[:0]
		case !expressionStmt(s):
		case mergeable(s) != nil:
			sa = append(sa, i)
		}
	}
	mergeGathered(out, sa)
	c.items, c.run = out, sa
	return out
}

// anyAdjacent reports whether two of the comparisons out[i], i in sa, are on adjacent
// fields of one header: the common case of none needs no sorting.
func anyAdjacent(out []item, sa []int) bool {
	for k, i := range sa {
		a := out[i].stmt.(*Match)
		for _, j := range sa[k+1:] {
			b := out[j].stmt.(*Match)
			if a.Field.base == b.Field.base && (a.Field.offset+uint32(len(a.Value.Elems[0].From)) == b.Field.offset ||
				b.Field.offset+uint32(len(b.Value.Elems[0].From)) == a.Field.offset) {
				return true
			}
		}
	}
	return false
}

// mergeGathered merges the payload comparisons out[i] for i in sa, in place: a merged
// group becomes one item, the others of the group empty ones.
func mergeGathered(out []item, sa []int) {
	if !anyAdjacent(out, sa) {
		return
	}
	match := func(i int) *Match { return out[i].stmt.(*Match) }
	slices.SortStableFunc(sa, func(a, b int) int {
		fa, fb := match(a).Field, match(b).Field
		if fa.base != fb.base {
			return int(fa.base) - int(fb.base)
		}
		return int(fa.offset) - int(fb.offset)
	})
	for k := 0; k < len(sa); {
		first := match(sa[k])
		size, n, at := len(first.Value.Elems[0].From), 1, sa[k]
		for ; k+n < len(sa); n++ {
			nx := match(sa[k+n])
			if nx.Field.base != first.Field.base || nx.Field.offset != first.Field.offset+uint32(size) ||
				size+len(nx.Value.Elems[0].From) > 4 || !sameOpClass(nx.Op, first.Op) {
				break
			}
			size += len(nx.Value.Elems[0].From)
			if nx.Field.protoKey {
				at = sa[k+n]
			}
		}
		if n > 1 {
			data := make([]byte, 0, size)
			for _, i := range sa[k : k+n] {
				data = append(data, match(i).Value.Elems[0].From...)
			}
			load := &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: first.Field.base, Offset: first.Field.offset, Len: uint32(size)}
			for _, i := range sa[k : k+n] {
				out[i] = item{}
			}
			out[at] = item{load: load, op: first.Op, data: data}
		}
		k += n
	}
}

// reuse lets the next rule take its expressions from the start of the slabs again,
// for a caller done with everything compiled so far (the listing verifier, which
// only encodes each rule and compares it).
func (c *compiler) reuse() {
	c.payloads, c.cmps, c.metas = c.payloads[:0], c.cmps[:0], c.metas[:0]
	c.counters, c.verdicts, c.exprs = c.counters[:0], c.verdicts[:0], c.exprs[:0]
}

func (c *compiler) rule(t *Table, r *Rule) ([]expr.Any, []CompiledSet, error) {
	// The rule's expressions go to the free tail of c.exprs; a rule that outgrows it
	// gets its own array from append.
	if cap(c.exprs)-len(c.exprs) < 32 {
		c.exprs = make([]expr.Any, 0, 16*slabSize)
	}
	exprs := c.exprs[len(c.exprs):len(c.exprs)]
	var sets []CompiledSet
	for _, it := range c.merge(c.expand(t, r)) {
		if it.stmt == nil && it.load == nil {
			continue // merged into another item
		}
		if it.load != nil {
			exprs = append(exprs, it.load, c.cmpExpr(it.op, it.data))
			continue
		}
		var s []CompiledSet
		var err error
		exprs, s, err = c.stmt(exprs, t, it.stmt)
		if err != nil {
			return nil, nil, err
		}
		sets = append(sets, s...)
	}
	if len(exprs) > 0 && &exprs[0] == &c.exprs[:len(c.exprs)+1][len(c.exprs)] {
		c.exprs = c.exprs[:len(c.exprs)+len(exprs)]
	}
	return exprs[:len(exprs):len(exprs)], sets, nil
}
