package capfilter

import (
	"golang.org/x/net/bpf"
)

// relops maps a relational operator to the BPF condition and whether the result is
// negated (classic BPF has only jeq, jgt, jge and jset).
var relops = map[string]struct {
	cond bpf.JumpTest
	neg  bool
}{
	"=": {bpf.JumpEqual, false}, "==": {bpf.JumpEqual, false}, "!=": {bpf.JumpEqual, true},
	">": {bpf.JumpGreaterThan, false}, ">=": {bpf.JumpGreaterOrEqual, false},
	"<": {bpf.JumpGreaterOrEqual, true}, "<=": {bpf.JumpGreaterThan, true},
}

// binary operator precedence, lowest first, as in libpcap's grammar.y.
var arithLevels = [][]string{{"|"}, {"^"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "%"}}

var aluOps = map[string]bpf.ALUOp{
	"|": bpf.ALUOpOr, "^": bpf.ALUOpXor, "&": bpf.ALUOpAnd, "<<": bpf.ALUOpShiftLeft,
	">>": bpf.ALUOpShiftRight, "+": bpf.ALUOpAdd, "-": bpf.ALUOpSub, "*": bpf.ALUOpMul,
	"/": bpf.ALUOpDiv, "%": bpf.ALUOpMod,
}

// relation parses "arith relop arith". The loads it contains add protocol guards
// that must hold before the comparison is made (libpcap gen_load).
func (p *parser) relation() node {
	var guards []pqual
	lhs := p.arith(0, &guards)
	t := p.next()
	r, ok := relops[t.text]
	if !ok || t.kind != tokOp {
		panic(errAt(t, "unexpected %v (expected a comparison: =, ==, !=, <, <=, >, >=)", t))
	}
	rhs := p.arith(0, &guards)
	if l, ok := lhs.(arithConst); ok {
		if rc, ok := rhs.(arithConst); ok {
			return constNode(compare(r.cond, uint32(l), uint32(rc)) != r.neg)
		}
	}
	var guard node = constNode(true)
	for _, pq := range guards {
		guard = and2(guard, p.loadGuard(pq))
	}
	if c, ok := guard.(constNode); ok {
		if !c {
			return c
		}
		guard = nil
	}
	return &relNode{guard: guard, lhs: lhs, rhs: rhs, cond: r.cond, neg: r.neg}
}

func compare(c bpf.JumpTest, a, b uint32) bool {
	switch c {
	case bpf.JumpEqual:
		return a == b
	case bpf.JumpGreaterThan:
		return a > b
	default:
		return a >= b
	}
}

// loadGuard is what must hold before proto[…] can be read.
func (p *parser) loadGuard(pq pqual) node {
	o := p.o
	if et := pq.etherType(); et != 0 {
		return o.etherType(et)
	}
	switch pq {
	case pqTCP, pqUDP, pqICMP, pqSCTP, pqIGMP:
		// IPv4 only and first fragments only, as libpcap (gencode.c gen_load).
		return and2(o.ipProto(pq.ipProtocol()), o.ipFirstFragment())
	case pqICMP6:
		return o.ip6ProtoDirect(ipProtoICMPv6)
	}
	return constNode(true)
}

func (p *parser) arith(level int, guards *[]pqual) arith {
	if level == len(arithLevels) {
		return p.unary(guards)
	}
	l := p.arith(level+1, guards)
	for {
		t := p.peek()
		if t.kind != tokOp || !contains(arithLevels[level], t.text) {
			return l
		}
		p.next()
		r := p.arith(level+1, guards)
		l = fold(t, aluOps[t.text], l, r)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fold builds l op r, computing it now when both sides are constants.
func fold(t token, op bpf.ALUOp, l, r arith) arith {
	rc, rok := r.(arithConst)
	if rok && rc == 0 && (op == bpf.ALUOpDiv || op == bpf.ALUOpMod) {
		panic(errAt(t, "division by zero"))
	}
	lc, lok := l.(arithConst)
	if !lok || !rok {
		return &arithBin{op: op, l: l, r: r}
	}
	a, b := uint32(lc), uint32(rc)
	switch op {
	case bpf.ALUOpOr:
		a |= b
	case bpf.ALUOpXor:
		a ^= b
	case bpf.ALUOpAnd:
		a &= b
	case bpf.ALUOpShiftLeft:
		a <<= b
	case bpf.ALUOpShiftRight:
		a >>= b
	case bpf.ALUOpAdd:
		a += b
	case bpf.ALUOpSub:
		a -= b
	case bpf.ALUOpMul:
		a *= b
	case bpf.ALUOpDiv:
		a /= b
	case bpf.ALUOpMod:
		a %= b
	}
	return arithConst(a)
}

func (p *parser) unary(guards *[]pqual) arith {
	t := p.next()
	switch {
	case t.kind == tokOp && t.text == "-":
		p.enter(t)
		x := p.unary(guards)
		p.leave()
		if c, ok := x.(arithConst); ok {
			return arithConst(-uint32(c))
		}
		return &arithNeg{x}
	case t.kind == tokOp && t.text == "(":
		return p.parenArith(t, guards)
	case t.kind != tokWord:
	case t.text == "len":
		return arithLen{}
	case isNumber(t.text):
		v, _ := parseNumber(t.text)
		return arithConst(v)
	default:
		if v, ok := constants[t.text]; ok {
			return arithConst(v)
		}
		if pq, ok := pqualNames[t.text]; ok && p.is("[") {
			return p.loadExpr(t, pq, guards)
		}
	}
	panic(errAt(t, "unexpected %v (expected a number, len, a name such as tcpflags, or proto[offset:size])", t))
}

// parenArith parses "arith )" after the "(" t, which is the token before p.pos. While
// it parses, the position is on p.open; if it fails, tryRelation finds it there and
// remembers the failure (see parser.parenFail). No recover here: a panic recovered
// and raised again at each of n levels costs the runtime n² frame walks.
func (p *parser) parenArith(t token, guards *[]pqual) arith {
	key := parenKey{p.pos - 1, p.o}
	if se := p.parenFail[key]; se != nil {
		panic(se)
	}
	p.enter(t)
	p.open = append(p.open, key)
	x := p.arith(0, guards)
	p.expect(")")
	p.open = p.open[:len(p.open)-1]
	p.leave()
	return x
}

// loadExpr parses "[index]" or "[index:size]" after a protocol name.
func (p *parser) loadExpr(t token, pq pqual, guards *[]pqual) arith {
	p.enter(p.expect("["))
	index := p.arith(0, guards)
	size := 1
	if p.is(":") {
		p.next()
		st := p.peek()
		v := p.number()
		if v != 1 && v != 2 && v != 4 {
			panic(errAt(st, "data size must be 1, 2, or 4, not %d", v))
		}
		size = int(v)
	}
	p.expect("]")
	p.leave()
	o := p.o
	a := &arithLoad{index: index, size: size}
	switch pq {
	case pqLink:
		if o.lt == LinkTypeRaw {
			// libpcap: on DLT_RAW the "link" header has length 0.
			a.base = 0
		}
	case pqIP, pqIP6, pqARP, pqRARP:
		a.base = o.nl
	case pqICMP6:
		a.base = o.nl + 40 // RFC 8200 §3: the fixed header is 40 bytes.
	default:
		a.base, a.transport4 = o.nl, true
	}
	if !contains2(*guards, pq) && pq != pqLink {
		*guards = append(*guards, pq)
	}
	return a
}

func contains2(list []pqual, q pqual) bool {
	for _, x := range list {
		if x == q {
			return true
		}
	}
	return false
}
