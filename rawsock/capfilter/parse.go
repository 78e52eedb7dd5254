package capfilter

import (
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// parser is a recursive-descent parser for pcap-filter(7) that mirrors libpcap's
// grammar (grammar.y) closely enough to accept and reject the same expressions:
//
//	expr  := term { ("and"|"&&"|"or"|"||") (term | id) }   // and/or: equal precedence, left assoc
//	term  := ("not"|"!") term | rterm
//	rterm := "(" expr ")" | head id | pname | arith relop arith | other
//	head  := [pname] [dqual] [aqual]
//	id    := value | ("not"|"!") id | "(" id { (and|or) id } ")"
//
// It builds the boolean tree as it goes, as libpcap generates code as it goes,
// because "vlan" changes the offsets of everything parsed after it.
//
// Parsing takes time linear in the length of the expression: see parenFail.
type parser struct {
	toks  []token
	pos   int
	o     offsets
	depth int // nesting of parentheses, "not", unary "-" and "[": at most MaxDepth

	// parenFail remembers each "(" at which "( arith )" failed to parse. rterm tries
	// arithmetic at every "(" before a boolean expression ("(tcp[0] & 1) = 1" against
	// "(tcp or udp)"), and a failed try scans to the innermost parenthesis, so n nested
	// parentheses were scanned n times over: n²/2 tokens, 1.3 s at depth 2 000. The
	// outcome at a position depends only on the tokens from there on and on the
	// offsets (which only "vlan" changes, and "vlan" ends arithmetic), so each
	// position is scanned once.
	parenFail map[parenKey]*SyntaxError
	tooDeep   map[*SyntaxError]bool // errors of nesting deeper than MaxDepth
	open      []parenKey            // the "(" whose arithmetic is being parsed

	steps int // tokens consumed, backtracking included: the parser's work, for tests
}

type parenKey struct {
	pos int
	o   offsets
}

// MaxDepth bounds how deeply parentheses, "not", unary "-" and "[" may nest: far
// beyond any expression a person writes, it keeps the parser's recursion (and the
// trees it builds) shallow for any input.
const MaxDepth = 256

func (p *parser) enter(t token) {
	p.depth++
	if p.depth > MaxDepth {
		se := errAt(t, "expression nested deeper than %d levels of parentheses, not, - or [", MaxDepth)
		p.tooDeep[se] = true
		panic(se)
	}
}

func (p *parser) leave() { p.depth-- }

// parse parses expr; errors are *SyntaxError.
func parse(expr string, lt LinkType) (n node, err error) {
	n, _, err = parseCounting(expr, lt)
	return n, err
}

// parseCounting is parse that also returns the parser's work (see parser.steps).
func parseCounting(expr string, lt LinkType) (n node, steps int, err error) {
	p := &parser{toks: lex(expr), o: newOffsets(lt), parenFail: map[parenKey]*SyntaxError{}, tooDeep: map[*SyntaxError]bool{}}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*SyntaxError)
			if !ok {
				panic(r)
			}
			n, err = nil, se
		}
		steps = p.steps
	}()
	if p.peek().kind == tokEOF {
		return constNode(true), 0, nil
	}
	n, _ = p.expr(qual{})
	if t := p.peek(); t.kind != tokEOF {
		panic(errAt(t, "unexpected %v (expected and, or or end of expression)", t))
	}
	return n, 0, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) peekAt(i int) token {
	if p.pos+i < len(p.toks) {
		return p.toks[p.pos+i]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	p.steps++
	return t
}

func (p *parser) is(s string) bool { return p.peek().text == s && p.peek().kind != tokEOF }

func (p *parser) expect(s string) token {
	t := p.next()
	if t.text != s || t.kind == tokEOF {
		panic(errAt(t, "unexpected %v (expected %q)", t, s))
	}
	return t
}

func isAnd(t token) bool { return t.text == "and" || t.text == "&&" }
func isOr(t token) bool  { return t.text == "or" || t.text == "||" }
func isNot(t token) bool { return t.text == "not" || t.text == "!" }

// expr parses a sequence of terms joined by and/or, left to right with equal
// precedence (pcap-filter(7): "Negation has highest precedence. Alternation and
// concatenation have equal precedence and associate left to right.").
func (p *parser) expr(prev qual) (node, qual) {
	n, q := p.term(prev)
	for {
		t := p.peek()
		if !isAnd(t) && !isOr(t) {
			return n, q
		}
		p.next()
		var r node
		if q.ok && p.idStarts(0) {
			r = p.id(q)
		} else {
			r, q = p.term(q)
		}
		if isAnd(t) {
			n = and2(n, r)
		} else {
			n = or2(n, r)
		}
	}
}

// idStarts reports whether the tokens at offset i begin an id (a bare value, "not"
// before an id, or "(" before an id) rather than a term.
func (p *parser) idStarts(i int) bool {
	t := p.peekAt(i)
	for isNot(t) || t.text == "(" && t.kind == tokOp {
		i++
		t = p.peekAt(i)
	}
	switch {
	case t.kind == tokEOF:
		return false
	case t.kind == tokWord:
		if isKeyword(t.text) {
			return false
		}
		if _, ok := constants[t.text]; ok {
			return false
		}
		// A number followed by an operator starts arithmetic ("80 = tcp[2:2]").
		if isNumber(t.text) && isArithOp(p.peekAt(i+1)) {
			return false
		}
		return true
	}
	return false
}

func isNumber(s string) bool {
	_, ok := parseNumber(s)
	return ok
}

func isArithOp(t token) bool {
	if t.kind != tokOp {
		return false
	}
	switch t.text {
	case "=", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "[":
		return true
	}
	return false
}

func (p *parser) term(prev qual) (node, qual) {
	if isNot(p.peek()) {
		p.enter(p.next())
		n, q := p.term(prev)
		p.leave()
		return not1(n), q
	}
	return p.rterm(prev)
}

func (p *parser) rterm(prev qual) (node, qual) {
	t := p.peek()
	if t.text == "(" && t.kind == tokOp {
		// Where arithmetic already failed at this "(", trying again would only
		// panic the same error, at a cost that grows with the stack's depth.
		if p.parenFail[parenKey{p.pos, p.o}] == nil {
			if n, ok := p.tryRelation(); ok {
				return n, qual{}
			}
		}
		p.enter(p.next())
		n, _ := p.expr(prev)
		p.expect(")")
		p.leave()
		return n, prev
	}
	if t.kind != tokWord && t.text != "-" {
		panic(errAt(t, "unexpected %v (expected %s)", t, expectedPrimitive))
	}
	switch t.text {
	case "less", "greater":
		p.next()
		v := p.number()
		ln := &testNode{ld: load{mode: loadLen}, val: v}
		if t.text == "less" { // len <= v
			ln.cond = bpf.JumpGreaterThan
			return not1(ln), qual{}
		}
		ln.cond = bpf.JumpGreaterOrEqual
		return ln, qual{}
	case "vlan":
		return p.vlan(), qual{}
	case "broadcast", "multicast":
		return p.castPrim(pqNone), qual{}
	}
	if p.startsArith() {
		return p.relation(), qual{}
	}
	return p.head()
}

const expectedPrimitive = "a primitive such as host, net, port, portrange, ip, ip6, arp, tcp, udp, icmp, icmp6, ether, vlan, less, greater, not or \"(\""

// startsArith reports whether the next tokens begin an arithmetic relation.
func (p *parser) startsArith() bool {
	t := p.peek()
	switch {
	case t.text == "len", t.text == "-":
		return true
	case isNumber(t.text):
		return true
	}
	if _, ok := constants[t.text]; ok {
		return true
	}
	if _, ok := pqualNames[t.text]; ok && p.peekAt(1).text == "[" {
		return true
	}
	return false
}

// tryRelation parses "arith relop arith" if the tokens at the current position form
// one, and otherwise leaves the position unchanged. It lets "(" open either a
// parenthesised boolean expression or arithmetic: "(tcp[0] & 1) = 1".
func (p *parser) tryRelation() (n node, ok bool) {
	save, saveO, saveDepth, saveOpen := p.pos, p.o, p.depth, len(p.open)
	defer func() {
		if r := recover(); r != nil {
			se, isSyntax := r.(*SyntaxError)
			if !isSyntax {
				panic(r)
			}
			// Every "(" still open failed to parse as arithmetic, unless the error
			// is nesting too deep, which depends on the way there too.
			for _, k := range p.open[saveOpen:] {
				if !p.tooDeep[se] {
					p.parenFail[k] = se
				}
			}
			p.open = p.open[:saveOpen]
			p.pos, p.o, p.depth = save, saveO, saveDepth
			n, ok = nil, false
		}
	}()
	return p.relation(), true
}

func (p *parser) number() uint32 {
	t := p.next()
	v, ok := parseNumber(t.text)
	if !ok || t.kind != tokWord {
		panic(errAt(t, "unexpected %v (expected a number)", t))
	}
	return v
}

// parseNumber parses a number as libpcap does (scanner.l stou): 0x hex, a leading
// 0 octal, decimal otherwise, 32 bits at most.
func parseNumber(s string) (uint32, bool) {
	base := 10
	switch {
	case strings.HasPrefix(s, "0x"), strings.HasPrefix(s, "0X"):
		s, base = s[2:], 16
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
	}
	if s == "" || s[0] == '+' || strings.ContainsRune(s, '_') {
		return 0, false
	}
	v, err := strconv.ParseUint(s, base, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}
