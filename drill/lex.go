package drill

import (
	"fmt"
	"strings"
)

// tokKind is a lexical token's kind.
type tokKind uint8

const (
	tEOF    tokKind = iota
	tNum            // 12, 0.100, 0x1f
	tWord           // AF_INET, sackOK, S
	tPunct          // < > ( ) [ ] { } , = : ~ + - * | . ...
	tString         // "text" (Text holds the unescaped contents)
	tShell          // `command` (Text holds the command)
	tCode           // %{ … }% (Text holds the body)
	tOption         // --name=value (Text holds name=value)
)

func (k tokKind) String() string {
	return [...]string{"end of file", "number", "word", "punctuation", "string", "shell command", "code block", "option"}[k]
}

// token is one token with its position and byte offsets in the source.
type token struct {
	kind     tokKind
	text     string
	pos      Pos
	off, end int
}

func (t token) is(punct string) bool { return t.kind == tPunct && t.text == punct }

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tString:
		return fmt.Sprintf("string %q", t.text)
	case tShell, tCode:
		return t.kind.String()
	}
	return fmt.Sprintf("%q", t.text)
}

// lexer turns a script into tokens, one at a time, in a single pass: every byte is
// looked at a bounded number of times, so lexing is linear in the input.
type lexer struct {
	file      string
	src       string
	off       int
	line, col int
	lineStart int
}

func newLexer(file, src string) *lexer { return &lexer{file: file, src: src, line: 1, col: 1} }

func (l *lexer) pos() Pos { return Pos{File: l.file, Line: l.line, Col: l.off - l.lineStart + 1} }

// advance moves over n bytes, counting lines.
func (l *lexer) advance(n int) {
	for i := 0; i < n && l.off < len(l.src); i++ {
		if l.src[l.off] == '\n' {
			l.line++
			l.lineStart = l.off + 1
		}
		l.off++
	}
}

// skip passes over white space and comments (// to the end of the line, /* … */).
func (l *lexer) skip() error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.advance(1)
		case strings.HasPrefix(l.src[l.off:], "//"):
			n := strings.IndexByte(l.src[l.off:], '\n')
			if n < 0 {
				n = len(l.src) - l.off
			}
			l.advance(n)
		case strings.HasPrefix(l.src[l.off:], "/*"):
			p := l.pos()
			n := strings.Index(l.src[l.off+2:], "*/")
			if n < 0 {
				return &Error{Pos: p, Msg: "comment /* is never closed with */"}
			}
			l.advance(n + 4)
		default:
			return nil
		}
	}
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isWordStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
func isWordByte(c byte) bool { return isWordStart(c) || isDigit(c) }
func isHexDigit(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// next returns the next token.
func (l *lexer) next() (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	t := token{pos: l.pos(), off: l.off}
	if l.off >= len(l.src) {
		t.kind, t.end = tEOF, l.off
		return t, nil
	}
	rest := l.src[l.off:]
	c := rest[0]
	var n int
	var err error
	switch {
	case isDigit(c) || (c == '.' && len(rest) > 1 && isDigit(rest[1])):
		t.kind, n = tNum, numberLen(rest)
		t.text = rest[:n]
	case isWordStart(c):
		t.kind = tWord
		for n < len(rest) && isWordByte(rest[n]) {
			n++
		}
		t.text = rest[:n]
	case c == '"':
		t.kind = tString
		t.text, n, err = l.quoted(rest)
	case c == '`':
		t.kind = tShell
		t.text, n, err = l.delimited(rest, 1, "`", "shell command ` is never closed with `")
	case strings.HasPrefix(rest, "%{"):
		t.kind = tCode
		t.text, n, err = l.delimited(rest, 2, "}%", "code block %{ is never closed with }%")
	case strings.HasPrefix(rest, "--") && len(rest) > 2 && isWordStart(rest[2]):
		t.kind = tOption
		for n = 2; n < len(rest) && !strings.ContainsRune(" \t\r\n", rune(rest[n])); n++ {
		}
		t.text = rest[2:n]
	case strings.HasPrefix(rest, "..."):
		t.kind, t.text, n = tPunct, "...", 3
	case strings.ContainsRune("<>()[]{},=:~+-*|.&!/%", rune(c)):
		t.kind, t.text, n = tPunct, rest[:1], 1
	default:
		return t, &Error{Pos: t.pos, Msg: fmt.Sprintf("unexpected character %q", rune(c))}
	}
	if err != nil {
		return t, err
	}
	l.advance(n)
	t.end = l.off
	return t, nil
}

// numberLen is the length of the number at the start of s: decimal digits with an
// optional fraction (a '.' counts only when a digit follows, so that "0...0.1" is 0,
// ..., 0.1), or 0x and hex digits.
func numberLen(s string) int {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isHexDigit(s[2]) {
		n := 2
		for n < len(s) && isHexDigit(s[n]) {
			n++
		}
		return n
	}
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	if n == 0 && len(s) > 1 && s[0] == '.' && isDigit(s[1]) { // .01, as packetdrill accepts
		n = 1
	}
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	if n+1 < len(s) && s[n] == '.' && isDigit(s[n+1]) {
		n++
		for n < len(s) && isDigit(s[n]) {
			n++
		}
	}
	return n
}

// quoted reads a C string literal: \\, \", \n, \t, \0 and \xHH escapes.
func (l *lexer) quoted(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\n':
			return "", 0, &Error{Pos: l.pos(), Msg: "string is not closed with \" before the end of the line"}
		case '\\':
			if i+1 >= len(s) {
				break
			}
			i++
			switch e := s[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '0':
				b.WriteByte(0)
			case 'x':
				if i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]) {
					b.WriteByte(hexVal(s[i+1])<<4 | hexVal(s[i+2]))
					i += 2
				} else {
					return "", 0, &Error{Pos: l.pos(), Msg: `\x in a string needs two hex digits`}
				}
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, &Error{Pos: l.pos(), Msg: "string is never closed with \""}
}

func hexVal(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// delimited reads from after an opener of length open up to the closer.
func (l *lexer) delimited(s string, open int, closer, msg string) (string, int, error) {
	i := strings.Index(s[open:], closer)
	if i < 0 {
		return "", 0, &Error{Pos: l.pos(), Msg: msg}
	}
	return s[open : open+i], open + i + len(closer), nil
}

// Error is a script that does not parse: where and why.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }
