package drill

import (
	"slices"
	"strconv"
	"strings"
)

// syscalls are the calls a script may make, with how many arguments each takes.
var syscalls = map[string][2]int{
	"socket": {3, 3}, "bind": {3, 3}, "listen": {2, 2}, "accept": {3, 3}, "accept4": {4, 4},
	"connect": {3, 3}, "read": {3, 3}, "write": {3, 3}, "send": {4, 4}, "recv": {4, 4},
	"sendto": {6, 6}, "recvfrom": {6, 6}, "sendmsg": {3, 3}, "recvmsg": {3, 3},
	"shutdown": {2, 2}, "close": {1, 1}, "fcntl": {2, 3}, "poll": {3, 3},
	"epoll_create": {1, 1}, "epoll_ctl": {4, 4}, "epoll_wait": {4, 4},
	"setsockopt": {5, 5}, "getsockopt": {5, 5}, "ioctl": {3, 3},
}

func syscallNames() []string {
	var n []string
	for k := range syscalls {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// syscall parses name(args) = ret [ERRNO [(text)]].
func (p *parser) syscall() *Syscall {
	at := p.tok.pos
	c := &Syscall{Name: p.word("a call name")}
	arity, ok := syscalls[c.Name]
	if !ok {
		p.failAt(at, "unknown call %q (supported: %s)", c.Name, strings.Join(syscallNames(), ", "))
	}
	p.expect("(", "after the call name")
	if !p.tok.is(")") {
		c.Args = p.exprList(")")
	}
	p.expect(")", "to end the arguments")
	if len(c.Args) < arity[0] || len(c.Args) > arity[1] {
		p.failAt(at, "%s takes %d arguments, not %d", c.Name, arity[1], len(c.Args))
	}
	p.expect("=", "before the call's result (= 0, = -1 ERRNO)")
	c.Ret = p.expr()
	if c.Ret.Kind != ExprInt && c.Ret.Kind != ExprEllipsis {
		p.failAt(c.Ret.Pos, "a call's result is an integer or ...")
	}
	if p.tok.kind == tWord && strings.HasPrefix(p.tok.text, "E") && p.tok.text == strings.ToUpper(p.tok.text) {
		if _, ok := errnos[p.tok.text]; !ok {
			p.fail("unknown errno %s", p.tok.text)
		}
		c.Errno = p.tok.text
		p.advance()
	}
	if p.tok.is("(") { // a note: (Operation now in progress), (flags O_RDWR)
		p.errnoText()
	}
	if c.Errno != "" && (c.Ret.Kind != ExprInt || c.Ret.Int != -1) {
		p.failAt(c.Ret.Pos, "an errno goes with the result -1")
	}
	return c
}

// errnoText skips the (description) after an errno: free text up to the closing
// parenthesis on the same line, which packetdrill ignores too. The lexer has already
// read the "(", so the text is read from the source directly.
func (p *parser) errnoText() {
	src := p.lx.src[p.lx.off:]
	n := strings.IndexAny(src, ")\n")
	if n < 0 || src[n] != ')' {
		p.fail("the errno's description (text) is not closed with ) on its line")
	}
	p.lx.advance(n + 1)
	p.advance()
}

func (p *parser) exprList(closer string) []*Expr {
	var l []*Expr
	for {
		if len(l) >= maxArgs {
			p.fail("more than %d elements", maxArgs)
		}
		l = append(l, p.expr())
		if p.tok.is(closer) {
			return l
		}
		p.expect(",", "between elements (or "+closer+" to end them)")
	}
}

func (p *parser) nest() func() {
	p.depth++
	if p.depth > maxDepth {
		p.fail("nested more than %d deep", maxDepth)
	}
	return func() { p.depth-- }
}

// expr parses a syscall argument: primary ('|' primary)*.
func (p *parser) expr() *Expr {
	e := p.primary()
	if !p.tok.is("|") {
		return e
	}
	or := &Expr{Pos: e.Pos, Kind: ExprOr, Elems: []*Expr{e}}
	for p.tok.is("|") {
		p.advance()
		if len(or.Elems) >= maxArgs {
			p.fail("more than %d operands of |", maxArgs)
		}
		or.Elems = append(or.Elems, p.primary())
	}
	return or
}

func (p *parser) primary() *Expr {
	defer p.nest()()
	t := p.tok
	e := &Expr{Pos: t.pos}
	switch {
	case t.is("..."):
		e.Kind = ExprEllipsis
		p.advance()
	case t.is("-"):
		p.advance()
		e.Kind, e.Int = ExprInt, -p.integer()
	case t.kind == tNum:
		e.Kind, e.Int = ExprInt, p.integer()
	case t.kind == tString:
		e.Kind, e.Str = ExprString, t.text
		p.advance()
	case t.kind == tWord:
		p.symbol(e)
	case t.is("["):
		p.advance()
		e.Kind = ExprList
		if !p.tok.is("]") {
			e.Elems = p.exprList("]")
		}
		p.expect("]", "to end the list")
	case t.is("{"):
		p.advance()
		e.Kind = ExprStruct
		p.fields(e)
		p.expect("}", "to end the struct")
	default:
		p.fail("expected an argument (a number, a name, \"string\", [list], {struct} or ...), found %s", t.describe())
	}
	return e
}

func (p *parser) integer() int64 {
	t := p.tok
	if t.kind != tNum || strings.Contains(t.text, ".") {
		p.fail("expected an integer, found %s", t.describe())
	}
	v, err := strconv.ParseInt(t.text, 0, 64)
	if err != nil {
		u, uerr := strconv.ParseUint(t.text, 0, 64)
		if uerr != nil {
			p.fail("integer %s does not fit in 64 bits", t.text)
		}
		v = int64(u)
	}
	p.advance()
	return v
}

// symbol parses a constant (AF_INET) or one of the helper calls htons(N),
// inet_addr("A"), inet6_addr("A").
func (p *parser) symbol(e *Expr) {
	t := p.tok
	p.advance()
	if p.tok.is("(") {
		switch t.text {
		case "htons", "inet_addr", "inet6_addr":
		default:
			p.failAt(t.pos, "unknown function %s (htons, inet_addr, inet6_addr)", t.text)
		}
		p.advance()
		e.Kind, e.Str = ExprList, t.text
		e.Elems = p.exprList(")")
		p.expect(")", "to end "+t.text+"(…)")
		e.Kind = ExprCall
		return
	}
	if _, ok := symbols[t.text]; !ok {
		p.failAt(t.pos, "unknown constant %s", t.text)
	}
	e.Kind, e.Str, e.Int = ExprSymbol, t.text, symbols[t.text]
}

// field parses name=value, name(arg)=value (msg_iov(1)=[…]) or a bare value, as in
// an iovec {..., 1000}.
func (p *parser) field() Field {
	if p.tok.kind != tWord {
		return Field{Value: p.expr()}
	}
	t := p.tok
	p.advance()
	var arg *Expr
	if p.tok.is("(") {
		p.advance()
		arg = p.expr()
		p.expect(")", "after the field's argument")
	}
	if !p.tok.is("=") && arg == nil {
		if _, ok := symbols[t.text]; !ok {
			p.failAt(t.pos, "expected name=value or a constant in a struct, found %s", t.describe())
		}
		return Field{Value: &Expr{Pos: t.pos, Kind: ExprSymbol, Str: t.text, Int: symbols[t.text]}}
	}
	p.expect("=", "after the field name")
	return Field{Name: t.text, Arg: arg, Value: p.expr()}
}

func (p *parser) fields(e *Expr) {
	for !p.tok.is("}") {
		if len(e.Fields) >= maxArgs {
			p.fail("more than %d fields", maxArgs)
		}
		e.Fields = append(e.Fields, p.field())
		if !p.tok.is(",") {
			break
		}
		p.advance()
	}
}
