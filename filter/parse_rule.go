package filter

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pktlab/pktlab/rawsock/header"
)

// rule parses one rule up to the end of the line and appends it to c.
func (p *parser) rule(tbl *Table, c *Chain) {
	p.fam = tbl.Family
	p.ctx = ruleCtx{}
	r := alloc(&p.slabs.rules)
	r.Pos = p.pos(p.peek())
	stmts := p.stmts[:0]
	var terminal token // the terminal statement seen, if any
	for {
		t := p.peek()
		if t.kind == tokNL || t.kind == tokEOF || (t.kind == tokPunct && t.text == "}") {
			break
		}
		if terminal.kind != tokEOF {
			p.failf(t, "statement after terminal statement has no effect (%s at %d:%d ends the rule; nft refuses the rule too)",
				terminal.text, terminal.line, terminal.col)
		}
		s := p.stmt()
		if IsTerminal(s) {
			terminal = t
		}
		stmts = append(stmts, s)
	}
	p.stmts = stmts
	if len(stmts) == 0 {
		p.failf(p.peek(), "empty rule")
	}
	r.Stmts = p.slabs.stmtList(stmts)
	p.endOfStmt()
	c.Rules = append(c.Rules, r)
}

// stmt parses one match or statement; each kind has a function of its own.
func (p *parser) stmt() Stmt {
	t := p.next()
	if t.kind != tokWord {
		p.failf(t, "expected a match or statement")
	}
	switch t.text {
	case "iif", "oif", "iifname", "oifname":
		return p.match(t, lookupField(t.text))
	case "meta":
		return p.metaStmt()
	case "ip", "ip6":
		return p.ipStmt(t)
	case "tcp", "udp":
		return p.portStmt(t)
	case "icmp", "icmpv6":
		return p.icmpMatch(t)
	case "ct":
		p.expect("state", `"state"`)
		return p.ctState()
	case "numgen":
		return p.numgenMatch()
	case "counter":
		return p.counter()
	case "log":
		return p.log()
	case "accept", "drop", "return", "jump", "goto":
		return p.verdict(t)
	case "reject":
		return p.reject(t)
	case "snat", "dnat":
		return p.nat(t)
	case "masquerade":
		return &Masquerade{}
	case "redirect":
		return p.redirect(t)
	case "notrack":
		return &Notrack{}
	}
	p.failf(t, "unknown match or statement (see docs/nft-subset.md for what pktlab supports)")
	return nil
}

// metaStmt parses what follows `meta`: a match on l4proto, nfproto, protocol or
// mark, or `mark set`, `nftrace set`.
func (p *parser) metaStmt() Stmt {
	k := p.next()
	switch k.text {
	case "l4proto":
		return p.match(k, lookupField("meta l4proto"))
	case "nfproto":
		return p.l3Match(k, fieldNfproto)
	case "protocol":
		return p.l3Match(k, fieldProtocol)
	case "mark":
		if p.accept("set") {
			v := p.next()
			b, err := dtMark.parse(v.text, nil)
			if err != nil {
				p.failf(v, "%v", err)
			}
			return &MetaSet{Key: "mark", Value: binary.NativeEndian.Uint32(b)}
		}
		return p.match(k, lookupField("meta mark"))
	case "nftrace":
		p.expect("set", `"set"`)
		v := p.next()
		if v.text != "1" && v.text != "0" {
			p.failf(v, "meta nftrace set takes 0 or 1")
		}
		return &MetaSet{Key: "nftrace", Value: uint32(v.text[0] - '0')}
	}
	p.failf(k, "expected meta l4proto, nfproto, protocol, mark or nftrace")
	return nil
}

// portStmt parses what follows `tcp` or `udp`: tcp flags, a port match or a port
// rewrite.
func (p *parser) portStmt(t token) Stmt {
	k := p.next()
	if t.text == "tcp" && k.text == "flags" {
		p.needL4(t, protoTCP)
		return p.tcpFlags()
	}
	if k.text != "sport" && k.text != "dport" {
		p.failf(k, "expected sport or dport")
	}
	f := lookupField2(t.text, k.text)
	if p.accept("set") {
		p.needL4(k, f.l4)
		return p.payloadSet(f)
	}
	return p.match(k, f)
}

// icmpMatch parses an icmp or icmpv6 header match.
func (p *parser) icmpMatch(t token) Stmt {
	k := p.next()
	f := lookupField2(t.text, k.text)
	if f == nil || k.kind != tokWord {
		p.failf(k, "expected %s type, code, id or sequence", t.text)
	}
	prevL4 := p.ctx.l4
	m := p.match(k, f)
	if prevL4 == 0 && p.ctx.l3 == 0 && (p.fam == FamilyINet || p.fam == FamilyNetdev) {
		// The match's dependency checks the network protocol too.
		p.ctx.l3 = icmpFamily(f.l4)
	}
	return m
}

// verdict parses a verdict; jump and goto name a chain.
func (p *parser) verdict(t token) Stmt {
	switch t.text {
	case "accept":
		return p.slabs.verdict(VerdictAccept)
	case "drop":
		return p.slabs.verdict(VerdictDrop)
	case "return":
		return p.slabs.verdict(VerdictReturn)
	case "jump":
		return &Verdict{Kind: VerdictJump, Chain: p.ident("chain").text}
	}
	return &Verdict{Kind: VerdictGoto, Chain: p.ident("chain").text}
}

// redirect parses `redirect [to :PORT]`.
func (p *parser) redirect(t token) Stmt {
	r := &Redirect{}
	if p.accept("to") {
		pt := p.next()
		if !strings.HasPrefix(pt.text, ":") {
			p.failf(pt, `expected ":PORT"`)
		}
		r.Port = p.port(pt, pt.text[1:])
		p.requirePortCtx(t)
	}
	return r
}

func (p *parser) ipStmt(t token) Stmt {
	k := p.next()
	name := t.text + " " + k.text
	f := lookupField(name)
	if f == nil {
		p.failf(k, "expected %s saddr or daddr%s", t.text, map[string]string{"ip": ", protocol or ttl", "ip6": " or hoplimit"}[t.text])
	}
	if p.fam == FamilyIP && f.l3 == FamilyIP6 || p.fam == FamilyIP6 && f.l3 == FamilyIP {
		p.failf(t, "%s matches never apply in a %s table", t.text, p.fam)
	}
	if p.ctx.l3 != 0 && p.ctx.l3 != f.l3 {
		p.failf(t, "conflicting protocols specified: %s vs. %s (the rule already matches only %s packets)", p.ctx.l3, f.l3, p.ctx.l3)
	}
	p.ctx.l3 = f.l3
	if (name == "ip ttl" || name == "ip6 hoplimit") && p.accept("set") {
		return p.payloadSet(f)
	}
	return p.match(k, f)
}

// payloadSet parses the value of `FIELD set VALUE`.
func (p *parser) payloadSet(f *Field) Stmt {
	v := p.next()
	b, err := f.dt.parse(v.text, nil)
	if err != nil {
		p.failf(v, "%v", err)
	}
	return &PayloadSet{Field: f, Value: b}
}

// match parses `[==|!=] VALUE` for field f.
func (p *parser) match(at token, f *Field) Stmt {
	m := alloc(&p.slabs.matches)
	m.Field = f
	if f.l4 != 0 {
		p.needL4(at, f.l4)
	}
	switch {
	case p.accept("=="):
		m.Op = OpEq
	case p.accept("!="):
		m.Op = OpNeq
	}
	m.Value = p.value(f.dt)
	if f.dt == dtICMPType || f.dt == dtICMP6Type {
		p.icmpTypeCtx(m)
	}
	if f.echo {
		p.needEcho(at, f)
	}
	if !m.Value.Set && m.Op != OpNeq && len(m.Value.Elems) == 1 && m.Value.Elems[0].To == nil && m.Value.Elems[0].Prefix == 0 {
		switch f.Name {
		case "meta l4proto", "ip protocol":
			p.ctx.l4 = m.Value.Elems[0].From[0]
		}
	}
	return m
}

// l3Match parses `meta nfproto ipv4|ipv6` or `meta protocol ip|ip6`, which establish
// the network protocol as `ip saddr …` would.
func (p *parser) l3Match(at token, f *Field) Stmt {
	m := p.match(at, f).(*Match)
	if m.Value.Set {
		p.failf(at, "sets of %s values are not in the subset", f.Name)
	}
	if l3 := m.l3Family(); l3 != 0 {
		if p.ctx.l3 != 0 && p.ctx.l3 != l3 {
			p.failf(at, "conflicting protocols specified: %s vs. %s (the rule already matches only %s packets)", p.ctx.l3, l3, p.ctx.l3)
		}
		p.ctx.l3 = l3
	}
	return m
}

// icmpTypeCtx records what an `icmp type` match tells about the message type: a
// positive match whose types are all echo types lets later id/sequence matches go
// without their dependency; any other positive match rules them out.
func (p *parser) icmpTypeCtx(m *Match) {
	if m.Op == OpNeq {
		return
	}
	p.ctx.icmpType = ctxEcho
	for _, e := range m.Value.Elems {
		if !isEcho(m.Field.l4, e.From[0]) {
			p.ctx.icmpType = ctxOther
			p.ctx.icmpTypeText = renderValue(m.Field.dt, m.Value, nil)
			return
		}
	}
}

// needEcho rejects an id/sequence match after a type match that excludes echo
// messages, as nft does ("incompatible icmp match").
func (p *parser) needEcho(at token, f *Field) {
	if p.ctx.icmpType == ctxOther {
		proto := map[uint8]string{protoICMP: "icmp", protoICMPv6: "icmpv6"}[f.l4]
		p.failf(at, "%s only exists in echo messages, but the rule matches %s type %s (nft: incompatible icmp match)", f.Name, proto, p.ctx.icmpTypeText)
	}
}

// needL4 records the transport protocol a tcp/udp match implies, and rejects a rule
// that already matched another one.
func (p *parser) needL4(at token, proto uint8) {
	if p.ctx.l4 != 0 && p.ctx.l4 != proto {
		p.failf(at, "conflicts with the rule's earlier protocol match (%s)", protoNames[p.ctx.l4])
	}
	p.ctx.l4 = proto
}

func (p *parser) requirePortCtx(at token) {
	if p.ctx.l4 != protoTCP && p.ctx.l4 != protoUDP {
		p.failf(at, "a port mapping needs a tcp or udp match earlier in the rule")
	}
}

// value parses one value or an anonymous set `{ a, b-c, d/24 }` of type dt.
func (p *parser) value(dt dataType) Value {
	if p.accept("{") {
		v := Value{Set: true}
		for {
			p.skipNL()
			v.Elems = append(v.Elems, p.elem(dt))
			p.skipNL()
			if p.accept("}") {
				break
			}
			p.expect(",", `"," or "}"`)
		}
		if len(v.Elems) == 1 {
			// nft turns a one-element anonymous set into a plain comparison.
			v.Set = false
		}
		sortElems(dt, v.Elems)
		for i := 1; i < len(v.Elems); i++ {
			if overlaps(dt, v.Elems[i-1], v.Elems[i]) {
				p.failf(p.toks[p.i-1], "set elements overlap")
			}
		}
		return v
	}
	return Value{Elems: p.slabs.elem1(p.elem(dt))}
}

func (p *parser) elem(dt dataType) Elem {
	t := p.next()
	if t.kind != tokWord && t.kind != tokString {
		p.failf(t, "expected a value")
	}
	s := t.text
	if dt.prefixable() && strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil || pfx.Addr().Is4() != (dt == dtIPv4) {
			p.failf(t, "not an %s prefix", map[dataType]string{dtIPv4: "IPv4", dtIPv6: "IPv6"}[dt])
		}
		if pfx.Bits() == 0 {
			p.failf(t, "a /0 prefix matches everything; leave the match out")
		}
		if pfx.Masked() != pfx {
			p.failf(t, "prefix has host bits set (did you mean %s?)", pfx.Masked())
		}
		if pfx.Bits() == dt.size()*8 {
			return Elem{From: pfx.Addr().AsSlice()}
		}
		return Elem{From: pfx.Addr().AsSlice(), Prefix: pfx.Bits()}
	}
	if dt.ordered() && t.kind == tokWord && strings.Count(s, "-") == 1 && !strings.HasPrefix(s, "-") && !dt.isName(s) {
		a, b, _ := strings.Cut(s, "-")
		from, err1 := dt.parse(a, p.ifs)
		to, err2 := dt.parse(b, p.ifs)
		if err1 != nil || err2 != nil {
			p.failf(t, "not a range of this field's values")
		}
		if cmpKey(dt, from, to) > 0 {
			p.failf(t, "range start is above its end")
		}
		if bytes.Equal(from, to) {
			return Elem{From: from}
		}
		return Elem{From: from, To: to}
	}
	b, err := dt.parse(s, p.ifs)
	if err != nil {
		p.failf(t, "%v", err)
	}
	return Elem{From: b}
}

func (p *parser) port(t token, s string) uint16 {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		p.failf(t, "not a port number (0-65535)")
	}
	return uint16(n)
}

// ctState parses `ct state a,b,…` or `ct state { a, b }`.
func (p *parser) ctState() Stmt {
	m := &Match{Field: lookupField("ct state")}
	parseOne := func() CtState {
		t := p.next()
		v, ok := lookupBit(ctStateBits(), t.text)
		if !ok {
			p.failf(t, "expected a ct state (invalid, established, related, new, untracked)")
		}
		return CtState(v)
	}
	if p.accept("{") {
		var states []CtState
		for {
			states = append(states, parseOne())
			if p.accept("}") {
				break
			}
			p.expect(",", `"," or "}"`)
		}
		if len(states) > 1 {
			m.Value.Set = true
			for _, s := range states {
				m.Value.Elems = append(m.Value.Elems, Elem{From: binary.NativeEndian.AppendUint32(nil, uint32(s))})
			}
			sortElems(dtCtState, m.Value.Elems)
			return m
		}
		m.Value.Elems = []Elem{{From: binary.NativeEndian.AppendUint32(nil, uint32(states[0]))}}
		return m
	}
	var mask CtState
	for {
		mask |= parseOne()
		if !p.accept(",") {
			break
		}
	}
	m.Value.Elems = []Elem{{From: binary.NativeEndian.AppendUint32(nil, uint32(mask))}}
	return m
}

// tcpFlags parses `tcp flags F[,G]`, `tcp flags ==|!= F`, `tcp flags F / M` and
// `tcp flags & (M|N) ==|!= F`.
func (p *parser) tcpFlags() Stmt {
	m := &MatchTCPFlags{}
	if p.accept("&") {
		paren := p.accept("(")
		m.Mask = p.flagList()
		if paren {
			p.expect(")", `")"`)
		}
		switch {
		case p.accept("=="):
			m.Op = OpEq
		case p.accept("!="):
			m.Op = OpNeq
		default:
			p.failf(p.peek(), `expected "==" or "!=" after the flag mask`)
		}
		at := p.peek()
		m.Flags = p.flagList()
		if m.Flags == 0 || m.Flags&^m.Mask != 0 {
			p.failf(at, "the compared flags must be a non-empty subset of the mask")
		}
		return m
	}
	switch {
	case p.accept("=="):
		m.Op = OpEq
	case p.accept("!="):
		m.Op = OpNeq
	}
	m.Flags = p.flagList()
	if p.accept("/") {
		at := p.peek()
		m.Mask = p.flagList()
		if m.Flags&^m.Mask != 0 {
			p.failf(at, "the compared flags must be a subset of the mask")
		}
		if m.Op == OpImplicit {
			m.Op = OpEq
		}
	}
	return m
}

func (p *parser) flagList() header.TCPFlags {
	var f header.TCPFlags
	for {
		t := p.next()
		v, ok := header.ParseNftFlag(t.text)
		if !ok {
			p.failf(t, "expected a tcp flag (fin, syn, rst, psh, ack, urg, ecn, cwr)")
		}
		f |= v
		if !p.accept(",") && !p.accept("|") {
			return f
		}
	}
}

// numgenMatch parses `numgen inc|random mod N [==|!=] V`.
func (p *parser) numgenMatch() Stmt {
	mode, mod := p.numgenHead()
	m := &MatchNumgen{Mode: mode, Mod: mod}
	switch {
	case p.accept("=="):
		m.Op = OpEq
	case p.accept("!="):
		m.Op = OpNeq
	}
	v := p.next()
	n, err := strconv.ParseUint(v.text, 0, 32)
	if err != nil || uint32(n) >= mod {
		p.failf(v, "expected a number below the modulus %d", mod)
	}
	m.Value = uint32(n)
	return m
}

func (p *parser) numgenHead() (mode, mod uint32) {
	t := p.next()
	switch t.text {
	case "inc":
		mode = NumgenInc
	case "random":
		mode = NumgenRandom
	default:
		p.failf(t, `expected numgen mode "inc" or "random"`)
	}
	p.expect("mod", `"mod"`)
	mt := p.next()
	n, err := strconv.ParseUint(mt.text, 0, 32)
	if err != nil || n == 0 {
		p.failf(mt, "expected a modulus above 0")
	}
	return mode, uint32(n)
}

func (p *parser) counter() Stmt {
	c := alloc(&p.slabs.counters)
	if p.accept("packets") {
		c.Packets = p.uint64()
		p.expect("bytes", `"bytes"`)
		c.Bytes = p.uint64()
	}
	return c
}

func (p *parser) uint64() uint64 {
	t := p.next()
	n, err := strconv.ParseUint(t.text, 10, 64)
	if err != nil {
		p.failf(t, "expected a number")
	}
	return n
}

func (p *parser) log() Stmt {
	l := &Log{}
	for {
		switch {
		case p.accept("prefix"):
			t := p.next()
			s, ok := unquote(t.text)
			if t.kind != tokString || !ok || len(s) > 127 {
				p.failf(t, "expected a quoted prefix of at most 127 characters")
			}
			l.Prefix = s
		case p.accept("group"):
			t := p.next()
			n, err := strconv.ParseUint(t.text, 10, 16)
			if err != nil {
				p.failf(t, "expected a log group number (0-65535)")
			}
			l.HasGroup, l.Group = true, uint16(n)
		default:
			return l
		}
	}
}

func (p *parser) reject(at token) Stmt {
	r := &Reject{}
	switch p.fam {
	case FamilyIP:
		r.Type, r.Proto, r.Code = rejectICMPUnreach, "icmp", 3
	case FamilyIP6:
		r.Type, r.Proto, r.Code = rejectICMPUnreach, "icmpv6", 4
	case FamilyINet:
		r.Type, r.Proto, r.Code = rejectICMPX, "icmpx", 1
	default:
		p.failf(at, "reject is not supported in %s tables by pktlab", p.fam)
	}
	if !p.accept("with") {
		return r
	}
	t := p.next()
	switch t.text {
	case "tcp":
		p.expect("reset", `"reset"`)
		p.needL4(t, protoTCP)
		return &Reject{Type: rejectTCPReset}
	case "icmp", "icmpv6", "icmpx":
		ok := map[string]bool{"icmp": p.fam != FamilyIP6, "icmpv6": p.fam != FamilyIP, "icmpx": p.fam == FamilyINet}[t.text]
		if !ok {
			p.failf(t, "reject with %s is not valid in a %s table", t.text, p.fam)
		}
		p.accept("type")
		c := p.next()
		names := map[string]map[uint8]string{"icmp": icmpCodeNames, "icmpv6": icmp6CodeNames, "icmpx": icmpxCodeNames}[t.text]
		code, ok := lookupCode(names, c.text)
		if !ok {
			p.failf(c, "unknown %s reject type", t.text)
		}
		typ := uint32(rejectICMPUnreach)
		if t.text == "icmpx" {
			typ = rejectICMPX
		}
		return &Reject{Type: typ, Proto: t.text, Code: code}
	}
	p.failf(t, `expected "tcp reset", "icmp type", "icmpv6 type" or "icmpx type"`)
	return nil
}

// nat parses `snat|dnat [ip|ip6] to ADDR[:PORT]` and `dnat to numgen … map { … }`.
func (p *parser) nat(at token) Stmt {
	n := &NAT{Kind: at.text, Family: p.natFamily(at), Explicit: p.fam == FamilyINet}
	p.expect("to", `"to"`)
	dt := dtIPv4
	if n.Family == FamilyIP6 {
		dt = dtIPv6
	}
	switch {
	case p.accept("numgen"):
		n.Map = p.natMap(dt)
	case p.peek().kind == tokPunct && p.peek().text == "[":
		p.next()
		p.natBracketed(at, n)
	default:
		p.natAddr(at, dt, n)
	}
	return n
}

// natFamily returns the address family of a NAT statement: the table's, or in an
// inet table the `ip`/`ip6` word nft 1.0.6 requires there.
func (p *parser) natFamily(at token) Family {
	var fam Family
	switch p.fam {
	case FamilyIP, FamilyIP6:
		fam = p.fam
	case FamilyINet:
	default:
		p.failf(at, "%s is not valid in a %s table", at.text, p.fam)
	}
	if p.is("ip") || p.is("ip6") {
		f := p.next()
		written, _ := parseFamily(f.text)
		if fam != 0 && fam != written {
			p.failf(f, "%s address family in a %s table", f.text, p.fam)
		}
		fam = written
	}
	if fam == 0 {
		p.failf(p.peek(), `in an inet table write "%s ip to" or "%s ip6 to"`, at.text, at.text)
	}
	return fam
}

// natMap parses `numgen inc|random mod N map { K : ADDR, … }` after `numgen`.
func (p *parser) natMap(dt dataType) *NumgenMap {
	mode, mod := p.numgenHead()
	m := &NumgenMap{Mode: mode, Mod: mod}
	p.expect("map", `"map"`)
	p.expect("{", `"{"`)
	for {
		p.skipNL()
		kt := p.next()
		k, err := strconv.ParseUint(kt.text, 0, 32)
		if err != nil {
			p.failf(kt, "expected a map key number")
		}
		p.expect(":", `":"`)
		vt := p.next()
		a, err := dt.parse(vt.text, nil)
		if err != nil {
			p.failf(vt, "%v", err)
		}
		m.Elems = append(m.Elems, MapElem{Key: uint32(k), Addr: a})
		p.skipNL()
		if p.accept("}") {
			return m
		}
		p.expect(",", `"," or "}"`)
	}
}

// natBracketed parses `ADDR][:PORT]` after the `[` of an IPv6 NAT address.
func (p *parser) natBracketed(at token, n *NAT) {
	a := p.next()
	b, err := dtIPv6.parse(a.text, nil)
	if err != nil || n.Family != FamilyIP6 {
		p.failf(a, "expected an IPv6 address in brackets")
	}
	n.Addr = b
	p.expect("]", `"]"`)
	if strings.HasPrefix(p.peek().text, ":") && p.peek().kind == tokWord {
		pt := p.next()
		n.Port = p.port(pt, pt.text[1:])
		p.requirePortCtx(at)
	}
}

// natAddr parses `ADDR[:PORT]` (no port after an unbracketed IPv6 address).
func (p *parser) natAddr(at token, dt dataType, n *NAT) {
	t := p.next()
	addr, portStr := t.text, ""
	if dt == dtIPv4 {
		if a, b, ok := strings.Cut(t.text, ":"); ok {
			addr, portStr = a, b
		}
	}
	b, err := dt.parse(addr, nil)
	if err != nil {
		p.failf(t, "%v", err)
	}
	n.Addr = b
	if portStr != "" {
		n.Port = p.port(t, portStr)
		p.requirePortCtx(at)
	}
}

// parseSlabs hands out the AST nodes of common rules from arrays of slabSize, and cuts
// rules' statement lists from shared arrays: a 10 000-rule file otherwise costs some
// 100 000 small allocations. Slices are cut with their capacity at their length, so
// appending to one never writes into its neighbour.
type parseSlabs struct {
	rules    []Rule
	matches  []Match
	counters []Counter
	verdicts []Verdict
	elems    []Elem
	stmts    []Stmt
}

func (s *parseSlabs) verdict(k VerdictKind) *Verdict {
	v := alloc(&s.verdicts)
	v.Kind = k
	return v
}

func (s *parseSlabs) elem1(e Elem) []Elem {
	if len(s.elems) == cap(s.elems) {
		s.elems = make([]Elem, 0, slabSize)
	}
	s.elems = append(s.elems, e)
	n := len(s.elems)
	return s.elems[n-1 : n : n]
}

// stmtList returns a copy of l cut from the shared array.
func (s *parseSlabs) stmtList(l []Stmt) []Stmt {
	if cap(s.stmts)-len(s.stmts) < len(l) {
		s.stmts = make([]Stmt, 0, max(4*slabSize, len(l)))
	}
	n := len(s.stmts)
	s.stmts = append(s.stmts, l...)
	return s.stmts[n : n+len(l) : n+len(l)]
}
