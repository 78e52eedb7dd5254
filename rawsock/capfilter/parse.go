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
type parser struct {
	toks []token
	pos  int
	o    offsets
}

// parse parses expr; errors are *SyntaxError.
func parse(expr string, lt LinkType) (n node, err error) {
	p := &parser{toks: lex(expr), o: newOffsets(lt)}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*SyntaxError)
			if !ok {
				panic(r)
			}
			n, err = nil, se
		}
	}()
	if p.peek().kind == tokEOF {
		return constNode(true), nil
	}
	n, _ = p.expr(qual{})
	if t := p.peek(); t.kind != tokEOF {
		panic(errAt(t, "unexpected %v (expected and, or or end of expression)", t))
	}
	return n, nil
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
	switch {
	case t.kind == tokEOF:
		return false
	case isNot(t), t.text == "(":
		return p.idStarts(i + 1)
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
		p.next()
		n, q := p.term(prev)
		return not1(n), q
	}
	return p.rterm(prev)
}

func (p *parser) rterm(prev qual) (node, qual) {
	t := p.peek()
	if t.text == "(" && t.kind == tokOp {
		if n, ok := p.tryRelation(); ok {
			return n, qual{}
		}
		p.next()
		n, _ := p.expr(prev)
		p.expect(")")
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
	save, saveO := p.pos, p.o
	defer func() {
		if r := recover(); r != nil {
			if _, isSyntax := r.(*SyntaxError); !isSyntax {
				panic(r)
			}
			p.pos, p.o = save, saveO
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
