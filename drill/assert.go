package drill

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Assert is one `assert EXPR[, message]` line of a %{ }% block: Python's syntax for
// arithmetic, comparisons (chained, as Python's), and/or/not, over tcpi_* fields and
// packetdrill's constants, evaluated in Go.
type Assert struct {
	Pos  Pos
	Src  string // the expression as written
	expr *aexpr
}

// aexpr is a node of an assert expression.
type aexpr struct {
	op   string // "num", "name", "not", "neg", "and", "or", "cmp", or a binary operator
	name string
	num  float64
	args []*aexpr
	ops  []string // the comparison operators of a chain a < b <= c
}

// parseAsserts parses the body of a code block token; errors panic as parse errors.
func parseAsserts(t token) []*Assert {
	var out []*Assert
	line, col := t.pos.Line, t.pos.Col+2
	for _, l := range strings.Split(t.text, "\n") {
		at := Pos{File: t.pos.File, Line: line, Col: col}
		trimmed := strings.TrimLeft(l, " \t")
		at.Col += len(l) - len(trimmed)
		line, col = line+1, 1
		trimmed = strings.TrimRight(trimmed, " \t\r")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if !strings.HasPrefix(trimmed, "assert ") {
			panic(parseErr{&Error{Pos: at, Msg: "only `assert EXPR[, message]` lines are supported in %{ }% (no Python interpreter is run)"}})
		}
		if len(out) >= maxArgs*4 {
			panic(parseErr{&Error{Pos: at, Msg: "more than 64 asserts in one block"}})
		}
		body := trimmed[len("assert "):]
		ap := &assertParser{src: body, pos: at, base: at.Col + len("assert ")}
		e := ap.parse()
		out = append(out, &Assert{Pos: at, Src: strings.TrimSpace(body[:ap.exprEnd]), expr: e})
	}
	return out
}

// assertParser is a recursive-descent parser of one assert line, depth-bounded.
type assertParser struct {
	src     string
	off     int
	pos     Pos
	base    int
	depth   int
	exprEnd int
}

func (a *assertParser) fail(format string, args ...any) {
	p := a.pos
	p.Col = a.base + a.off
	panic(parseErr{&Error{Pos: p, Msg: fmt.Sprintf(format, args...)}})
}

func (a *assertParser) parse() *aexpr {
	e := a.or()
	a.space()
	a.exprEnd = a.off
	if a.off < len(a.src) && a.src[a.off] != ',' {
		a.fail("unexpected %q in assert", a.src[a.off:])
	}
	return e
}

func (a *assertParser) space() {
	for a.off < len(a.src) && (a.src[a.off] == ' ' || a.src[a.off] == '\t') {
		a.off++
	}
}

// peekWord returns the identifier at the cursor.
func (a *assertParser) peekWord() string {
	a.space()
	n := a.off
	for n < len(a.src) && isWordByte(a.src[n]) {
		n++
	}
	return a.src[a.off:n]
}

// accept consumes op if it is next (an operator, or a keyword as a whole word).
func (a *assertParser) accept(op string) bool {
	a.space()
	if !strings.HasPrefix(a.src[a.off:], op) {
		return false
	}
	if isWordStart(op[0]) && a.peekWord() != op {
		return false
	}
	rest := a.src[a.off+len(op):]
	if (op == "<" || op == ">" || op == "=" || op == "!") && strings.HasPrefix(rest, "=") {
		return false
	}
	if (op == "/" || op == "*") && strings.HasPrefix(rest, op) {
		return false
	}
	a.off += len(op)
	return true
}

func (a *assertParser) nest() func() {
	a.depth++
	if a.depth > maxDepth*4 {
		a.fail("assert nested too deep")
	}
	return func() { a.depth-- }
}

func (a *assertParser) or() *aexpr {
	defer a.nest()()
	e := a.and()
	for a.accept("or") {
		e = &aexpr{op: "or", args: []*aexpr{e, a.and()}}
	}
	return e
}

func (a *assertParser) and() *aexpr {
	e := a.not()
	for a.accept("and") {
		e = &aexpr{op: "and", args: []*aexpr{e, a.not()}}
	}
	return e
}

func (a *assertParser) not() *aexpr {
	defer a.nest()()
	if a.accept("not") {
		return &aexpr{op: "not", args: []*aexpr{a.not()}}
	}
	return a.cmp()
}

var cmpOps = []string{"==", "!=", "<=", ">=", "<", ">"}

func (a *assertParser) cmp() *aexpr {
	first := a.binary(0)
	c := &aexpr{op: "cmp", args: []*aexpr{first}}
	for {
		op := ""
		for _, o := range cmpOps {
			if a.accept(o) {
				op = o
				break
			}
		}
		if op == "" {
			break
		}
		c.ops = append(c.ops, op)
		c.args = append(c.args, a.binary(0))
	}
	if len(c.ops) == 0 {
		return first
	}
	return c
}

// binLevels are Python's binary operators from loosest to tightest.
var binLevels = [][]string{{"|"}, {"^"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "//", "/", "%"}}

func (a *assertParser) binary(level int) *aexpr {
	if level == len(binLevels) {
		return a.unary()
	}
	e := a.binary(level + 1)
	for {
		op := ""
		for _, o := range binLevels[level] {
			if a.accept(o) {
				op = o
				break
			}
		}
		if op == "" {
			return e
		}
		e = &aexpr{op: op, args: []*aexpr{e, a.binary(level + 1)}}
	}
}

func (a *assertParser) unary() *aexpr {
	defer a.nest()()
	if a.accept("-") {
		return &aexpr{op: "neg", args: []*aexpr{a.unary()}}
	}
	if a.accept("(") {
		e := a.or()
		if !a.accept(")") {
			a.fail("expected ) in assert")
		}
		return e
	}
	a.space()
	if a.off < len(a.src) && isDigit(a.src[a.off]) {
		n := numberLen(a.src[a.off:])
		v, err := strconv.ParseFloat(a.src[a.off:a.off+n], 64)
		if err != nil {
			if u, uerr := strconv.ParseUint(a.src[a.off:a.off+n], 0, 64); uerr == nil {
				v, err = float64(u), nil
			}
		}
		if err != nil {
			a.fail("bad number %q", a.src[a.off:a.off+n])
		}
		a.off += n
		return &aexpr{op: "num", num: v}
	}
	w := a.peekWord()
	if w == "" {
		a.fail("expected a number, a tcpi_ field or a constant in assert")
	}
	_, field := tcpiFields[w]
	_, konst := assertConsts[w]
	if !field && !konst {
		a.fail("unknown name %s (tcpi_* fields of TCP_INFO, TCPI_OPT_*, TCP_CA_*)", w)
	}
	a.off += len(w)
	return &aexpr{op: "name", name: w}
}

// Eval evaluates the assert over the TCP_INFO fields given by get; it returns whether
// the assert holds and the values of the names it used, for the report.
func (as *Assert) Eval(get func(name string) (float64, bool)) (bool, string, error) {
	var used []string
	v, err := eval(as.expr, get, &used)
	return v != 0, strings.Join(used, " "), err
}

func eval(e *aexpr, get func(string) (float64, bool), used *[]string) (float64, error) {
	switch e.op {
	case "num":
		return e.num, nil
	case "name":
		if v, ok := assertConsts[e.name]; ok {
			return v, nil
		}
		v, ok := get(e.name)
		if !ok {
			return 0, fmt.Errorf("%s: not in this kernel's TCP_INFO", e.name)
		}
		*used = append(*used, fmt.Sprintf("%s=%v", e.name, v))
		return v, nil
	case "and", "or":
		l, err := eval(e.args[0], get, used)
		if err != nil || (e.op == "and" && l == 0) || (e.op == "or" && l != 0) {
			return l, err
		}
		return eval(e.args[1], get, used)
	case "cmp":
		return evalCmp(e, get, used)
	}
	vals := make([]float64, len(e.args))
	for i, x := range e.args {
		v, err := eval(x, get, used)
		if err != nil {
			return 0, err
		}
		vals[i] = v
	}
	return arith(e.op, vals)
}

func evalCmp(e *aexpr, get func(string) (float64, bool), used *[]string) (float64, error) {
	l, err := eval(e.args[0], get, used)
	if err != nil {
		return 0, err
	}
	for i, op := range e.ops {
		r, err := eval(e.args[i+1], get, used)
		if err != nil {
			return 0, err
		}
		ok := map[string]bool{"==": l == r, "!=": l != r, "<": l < r, "<=": l <= r, ">": l > r, ">=": l >= r}[op]
		if !ok {
			return 0, nil
		}
		l = r
	}
	return 1, nil
}

func arith(op string, v []float64) (float64, error) {
	if op == "not" {
		return b2f(v[0] == 0), nil
	}
	if op == "neg" {
		return -v[0], nil
	}
	x, y := v[0], v[1]
	if (op == "/" || op == "//" || op == "%") && y == 0 {
		return 0, fmt.Errorf("division by zero")
	}
	switch op {
	case "+":
		return x + y, nil
	case "-":
		return x - y, nil
	case "*":
		return x * y, nil
	case "/":
		return x / y, nil
	case "//":
		return math.Floor(x / y), nil
	case "%":
		return x - y*math.Floor(x/y), nil
	}
	a, b := int64(x), int64(y)
	switch op {
	case "|":
		return float64(a | b), nil
	case "&":
		return float64(a & b), nil
	case "^":
		return float64(a ^ b), nil
	case "<<":
		return float64(a << (uint64(b) & 63)), nil
	}
	return float64(a >> (uint64(b) & 63)), nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
