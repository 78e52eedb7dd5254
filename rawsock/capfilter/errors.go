package capfilter

import "fmt"

// SyntaxError reports an expression that cannot be compiled, with the 1-based line
// and column of the token at fault.
type SyntaxError struct {
	Line, Col int
	Token     string // the offending token's text, "" at the end of the expression
	Msg       string // what is wrong and, where useful, what was expected
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("capfilter: %d:%d: %s", e.Line, e.Col, e.Msg)
}

// RejectsAllError reports an expression that no frame of the link type can match,
// such as "arp" on LinkTypeRaw or "ip and ip6". tcpdump refuses these too
// ("expression rejects all packets").
type RejectsAllError struct {
	Expr     string
	LinkType LinkType
}

func (e *RejectsAllError) Error() string {
	return fmt.Sprintf("capfilter: %q rejects every %s frame: check the protocol names and the link type", e.Expr, e.LinkType)
}

// errAt builds the panic value the parser unwinds with.
func errAt(t token, format string, args ...any) *SyntaxError {
	tok := t.text
	if t.kind == tokEOF {
		tok = ""
	}
	return &SyntaxError{Line: t.line, Col: t.col, Token: tok, Msg: fmt.Sprintf(format, args...)}
}
