package filter

import (
	"fmt"
	"strconv"
	"strings"
)

// Parse parses a rules file in nft's syntax (the subset in docs/nft-subset.md): table
// blocks `table ip t { chain c { … } }` and the commands `add table`, `add chain`,
// `add rule` and `flush ruleset`, as `nft -f` accepts them. ifs resolves `iif`/`oif`
// names; it may be nil when the file uses neither. Any error is a *ParseError naming
// file:line:col and the offending token.
func Parse(file string, src []byte, ifs Interfaces) (*Ruleset, error) {
	toks, err := lex(file, src)
	if err != nil {
		return nil, err
	}
	p := &parser{name: file, toks: toks, ifs: ifs, rs: &Ruleset{}}
	if err := p.file(); err != nil {
		return nil, err
	}
	return p.rs, nil
}

type parser struct {
	name string // file name, for positions
	toks []token
	i    int
	ifs  Interfaces
	rs   *Ruleset
	// family of the table being parsed; rule context.
	fam Family
	ctx ruleCtx

	slabs parseSlabs
	stmts []Stmt // rule's scratch
}

// ruleCtx is the protocol context built up while parsing a rule: what the rule has
// already established about the packet (nft's payload dependency context).
type ruleCtx struct {
	l3 Family
	l4 uint8
	// icmpType is what an earlier positive `icmp type`/`icmpv6 type` match allows;
	// icmpTypeText is its value as written back, for errors.
	icmpType     icmpTypeCtx
	icmpTypeText string
}

type icmpTypeCtx uint8

const (
	ctxAnyType icmpTypeCtx = iota // no positive type match yet
	ctxEcho                       // echo-request and/or echo-reply only
	ctxOther                      // some other type
)

// bail is used with panic/recover inside the parser to unwind on the first error.
type bail struct{ err *ParseError }

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) pos(t token) Pos { return Pos{File: p.name, Line: int(t.line), Col: int(t.col)} }

func (p *parser) failf(t token, format string, args ...any) {
	tokText := t.String()
	if t.kind == tokEOF || t.kind == tokNL {
		tokText = t.String()
	}
	panic(bail{&ParseError{Pos: p.pos(t), Token: tokText, Msg: fmt.Sprintf(format, args...)}})
}

func (p *parser) is(text string) bool {
	t := p.peek()
	return (t.kind == tokWord || t.kind == tokPunct) && t.text == text
}

func (p *parser) accept(text string) bool {
	if p.is(text) {
		p.next()
		return true
	}
	return false
}

func (p *parser) expect(text, what string) token {
	t := p.next()
	if (t.kind != tokWord && t.kind != tokPunct) || t.text != text {
		p.failf(t, "expected %s", what)
	}
	return t
}

// ident reads a name (table, chain): a word of letters, digits, '_', '-', '.'.
func (p *parser) ident(what string) token {
	t := p.next()
	if t.kind == tokWord && reserved[t.text] {
		p.failf(t, "an nft keyword, which nft rejects as a %s name, quoted or not (nft 1.0.6); choose another %s name", what, what)
	}
	if name, ok := unquote(t.text); ok && t.kind == tokString {
		if reserved[name] {
			p.failf(t, "nft 1.0.6 accepts no quoted %s names, and %s is an nft keyword; choose another %s name", what, name, what)
		}
		if validName(name) {
			p.failf(t, "nft 1.0.6 accepts no quoted %s names; write %s without quotes", what, name)
		}
	}
	if t.kind != tokWord || !validName(t.text) {
		p.failf(t, "expected %s name", what)
	}
	return t
}

func validName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return !(s[0] >= '0' && s[0] <= '9') && !reserved[s]
}

// reserved are keywords nft's grammar does not accept as table or chain names, quoted
// or not: nft 1.0.6 `nft -c` says "syntax error, unexpected fwd, expecting string" for
// each of them (checked one by one in a lab node; words such as input, filter, state,
// id or code are accepted).
var reserved = map[string]bool{
	"ct": true, "snat": true, "dnat": true, "rt": true, "fwd": true, "meta": true, "tcp": true, "udp": true,
	"ip": true, "ip6": true, "counter": true, "log": true, "reject": true, "accept": true, "drop": true,
	"jump": true, "goto": true, "return": true, "masquerade": true, "redirect": true, "notrack": true,
	"numgen": true, "table": true, "chain": true, "type": true, "hook": true, "priority": true, "policy": true,
	"icmp": true, "icmpv6": true, "mark": true, "nftrace": true, "flags": true, "map": true, "random": true,
	"device": true, "add": true, "flush": true, "ruleset": true, "rule": true, "set": true, "reset": true,
	"iif": true, "oif": true, "iifname": true, "oifname": true, "inet": true, "netdev": true, "bridge": true,
	"arp": true,
}

func (p *parser) skipNL() {
	for p.peek().kind == tokNL {
		p.next()
	}
}

// endOfStmt requires the end of a command or rule: newline, ';', '}' or end of file.
func (p *parser) endOfStmt() {
	t := p.peek()
	switch {
	case t.kind == tokNL:
		p.next()
	case t.kind == tokEOF, t.kind == tokPunct && t.text == "}":
	default:
		p.failf(t, "unexpected token, expected end of line or ';'")
	}
}

func (p *parser) file() (err error) {
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bail)
			if !ok {
				panic(r)
			}
			err = b.err
		}
	}()
	for {
		p.skipNL()
		t := p.next()
		switch {
		case t.kind == tokEOF:
			return nil
		case t.kind == tokWord && t.text == "table":
			tbl := p.tableHeader()
			p.expect("{", `"{"`)
			p.tableBody(tbl)
		case t.kind == tokWord && t.text == "add":
			p.addCommand()
		case t.kind == tokWord && t.text == "flush":
			p.expect("ruleset", `"ruleset" (pktlab supports only "flush ruleset")`)
			if len(p.rs.Tables) > 0 {
				p.failf(t, "flush ruleset must come before any table in the file")
			}
			p.rs.FlushRuleset = true
			p.endOfStmt()
		default:
			p.failf(t, `unexpected token, expected "table", "add" or "flush"`)
		}
	}
}

// tableHeader parses `[FAMILY] NAME` and returns the table, creating it on first use.
func (p *parser) tableHeader() *Table {
	fam := FamilyIP
	t := p.peek()
	if f, ok := parseFamily(t.text); ok && t.kind == tokWord && p.toks[p.i+1].kind == tokWord {
		fam = f
		p.next()
	} else if t.kind == tokWord && (t.text == "arp" || t.text == "bridge") {
		p.next()
		p.failf(t, "table family not supported by pktlab (use ip, ip6, inet or netdev)")
	}
	name := p.ident("table")
	if tbl := p.rs.Table(fam, name.text); tbl != nil {
		return tbl
	}
	tbl := &Table{Family: fam, Name: name.text, Pos: p.pos(name)}
	p.rs.Tables = append(p.rs.Tables, tbl)
	return tbl
}

func (p *parser) tableBody(tbl *Table) {
	for {
		p.skipNL()
		t := p.next()
		switch {
		case t.kind == tokPunct && t.text == "}":
			p.endOfStmt()
			return
		case t.kind == tokWord && t.text == "chain":
			c := p.chainHeader(tbl)
			p.expect("{", `"{"`)
			p.chainBody(tbl, c)
		default:
			p.failf(t, `unexpected token, expected "chain" or "}"`)
		}
	}
}

func (p *parser) chainHeader(tbl *Table) *Chain {
	name := p.ident("chain")
	if c := tbl.Chain(name.text); c != nil {
		return c
	}
	c := &Chain{Name: name.text, Pos: p.pos(name)}
	tbl.Chains = append(tbl.Chains, c)
	return c
}

func (p *parser) chainBody(tbl *Table, c *Chain) {
	for {
		p.skipNL()
		t := p.peek()
		switch {
		case t.kind == tokPunct && t.text == "}":
			p.next()
			p.endOfStmt()
			return
		case t.kind == tokEOF:
			p.failf(t, `unexpected end of file, expected "}"`)
		case t.kind == tokWord && t.text == "type":
			p.next()
			p.baseChain(tbl, c, t)
		case t.kind == tokWord && t.text == "policy":
			p.next()
			if c.Base == nil {
				p.failf(t, "policy is only valid in a base chain (give type, hook and priority first)")
			}
			c.Base.Policy = p.policy()
			p.endOfStmt()
		default:
			p.rule(tbl, c)
		}
	}
}

func (p *parser) policy() *Policy {
	t := p.next()
	var pol Policy
	switch t.text {
	case "accept":
		pol = PolicyAccept
	case "drop":
		pol = PolicyDrop
	default:
		p.failf(t, `expected policy "accept" or "drop"`)
	}
	return &pol
}

// baseChain parses `type T hook H [device D] priority P;` (nft(8) CHAINS).
func (p *parser) baseChain(tbl *Table, c *Chain, at token) {
	if c.Base != nil {
		p.failf(at, "chain %s already has a type", c.Name)
	}
	if len(c.Rules) > 0 {
		p.failf(at, "the chain type must come before the rules")
	}
	b := &BaseChain{}
	t := p.next()
	switch ChainType(t.text) {
	case ChainTypeFilter, ChainTypeNAT, ChainTypeRoute:
		b.Type = ChainType(t.text)
	default:
		p.failf(t, `expected chain type "filter", "nat" or "route"`)
	}
	p.expect("hook", `"hook"`)
	ht := p.next()
	h, ok := parseHook(tbl.Family, ht.text)
	if !ok {
		if tbl.Family == FamilyNetdev {
			p.failf(ht, `expected hook "ingress" in a netdev table`)
		}
		p.failf(ht, "expected hook prerouting, input, forward, output or postrouting")
	}
	b.Hook = h
	switch {
	case b.Type == ChainTypeNAT && (tbl.Family == FamilyNetdev || h == HookForward):
		p.failf(ht, "nat chains hook only prerouting, input, output and postrouting of ip, ip6 and inet tables")
	case b.Type == ChainTypeRoute && (tbl.Family == FamilyNetdev || h != HookOutput):
		p.failf(ht, "route chains hook only output")
	}
	if p.accept("device") {
		d := p.next()
		name, ok := unquote(d.text)
		if !ok {
			name = d.text
		}
		if !validIfName(name) {
			p.failf(d, "expected a device name (1-15 printable characters)")
		}
		b.Device = name
	}
	if tbl.Family == FamilyNetdev && b.Device == "" {
		p.failf(p.peek(), `netdev base chains need "device NAME" before the priority`)
	}
	p.expect("priority", `"priority"`)
	b.Priority = p.priority(tbl.Family, h)
	p.endOfStmt()
	c.Base = b
}

// priority parses a number or a standard name with an optional ± offset.
func (p *parser) priority(f Family, h Hook) int32 {
	t := p.next()
	if t.kind != tokWord {
		p.failf(t, "expected a priority (a number or raw, mangle, dstnat, filter, security, srcnat)")
	}
	if n, err := strconv.ParseInt(t.text, 10, 32); err == nil {
		return int32(n)
	}
	base, ok := stdPriority(t.text, f, h)
	if !ok {
		p.failf(t, "unknown priority for %s %s (expected a number or raw, mangle, dstnat, filter, security, srcnat where valid)", f, hookName(f, h))
	}
	sign := int64(0)
	switch {
	case p.accept("+"):
		sign = 1
	case p.accept("-"):
		sign = -1
	case strings.HasPrefix(p.peek().text, "-") && p.peek().kind == tokWord:
		sign = -1
		o := p.next()
		n, err := strconv.ParseUint(o.text[1:], 10, 31)
		if err != nil {
			p.failf(o, "expected a priority offset")
		}
		return int32(int64(base) - int64(n))
	}
	if sign == 0 {
		return base
	}
	o := p.next()
	n, err := strconv.ParseUint(o.text, 10, 31)
	if err != nil {
		p.failf(o, "expected a priority offset")
	}
	v := int64(base) + sign*int64(n)
	if v < -1<<31 || v > maxPrio {
		p.failf(o, "priority out of range")
	}
	return int32(v)
}

// addCommand parses `add table|chain|rule …`.
func (p *parser) addCommand() {
	t := p.next()
	switch t.text {
	case "table":
		tbl := p.tableHeader()
		if p.accept("{") {
			p.tableBody(tbl)
			return
		}
		p.endOfStmt()
	case "chain":
		tbl := p.existingTable()
		c := p.chainHeader(tbl)
		if p.accept("{") {
			p.chainBody(tbl, c)
			return
		}
		p.endOfStmt()
	case "rule":
		tbl := p.existingTable()
		ct := p.ident("chain")
		c := tbl.Chain(ct.text)
		if c == nil {
			p.failf(ct, "no such chain in table %s %s (add it first)", tbl.Family, tbl.Name)
		}
		p.rule(tbl, c)
	default:
		p.failf(t, `expected "table", "chain" or "rule" after "add"`)
	}
}

func (p *parser) existingTable() *Table {
	start := p.i
	at := p.peek()
	fam := FamilyIP
	if f, ok := parseFamily(at.text); ok && p.toks[p.i+1].kind == tokWord {
		fam = f
		p.next()
	}
	name := p.ident("table")
	tbl := p.rs.Table(fam, name.text)
	if tbl == nil {
		p.i = start
		p.failf(name, "no such table %s %s (add it first)", fam, name.text)
	}
	return tbl
}

// Validate checks a rules file without a kernel, as Apply would before sending it:
// Parse, then Compile (protocol conflicts, jumps to missing chains, statements after a
// terminal statement). Every error is a *ParseError with file:line:col. ifs resolves
// `iif`/`oif` names; nil accepts any valid interface name, for a file checked before
// its lab exists. The returned ruleset is resolved against ifs, so apply the file with
// Conn.ParseFor once the node exists.
func Validate(file string, src []byte, ifs Interfaces) (*Ruleset, error) {
	if ifs == nil {
		ifs = anyInterface{}
	}
	rs, err := Parse(file, src, ifs)
	if err != nil {
		return nil, err
	}
	if _, err := Compile(rs); err != nil {
		return nil, err
	}
	return rs, nil
}

// anyInterface resolves every interface name to a placeholder index, for Validate.
type anyInterface struct{}

func (anyInterface) Index(name string) (int, bool) { return 1, validIfName(name) }
func (anyInterface) Name(int) (string, bool)       { return "", false }
