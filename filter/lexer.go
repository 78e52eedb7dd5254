package filter

import (
	"fmt"
	"strings"
)

// tokKind classifies a token of nft's input language.
type tokKind uint8

const (
	tokEOF    tokKind = iota
	tokNL             // newline or ';' (both end a rule in nft's grammar)
	tokWord           // identifiers, numbers, addresses, ranges, prefixes
	tokString         // "quoted"
	tokPunct          // { } , ( ) [ ] | & == != and a lone : - +
)

// token is 32 bytes: a 10 000-rule file has some 100 000 of them, so its position is
// kept as line and column and made a Pos (with the file name) only for an error or
// an AST node.
type token struct {
	kind      tokKind
	line, col int32
	text      string
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of file"
	case tokNL:
		if t.text == ";" {
			return `";"`
		}
		return "end of line"
	}
	return fmt.Sprintf("%q", t.text)
}

// ParseError is a syntax or semantic error in a rules file, with the position and the
// offending token, formatted as file:line:col: message.
type ParseError struct {
	Pos   Pos
	Token string
	Msg   string
}

func (e *ParseError) Error() string {
	if e.Token == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Token, e.Msg)
}

// isWordByte reports the bytes a word token is made of. ':' '/' '.' '-' are included so
// that addresses (198.18.0.0/15, 2001:db8::1), ranges (1000-2000) and ADDR:PORT are one
// token, as they are one value in nft's grammar.
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == ':' || c == '/' || c == '-' || c == '*' || c == '@' || c == '$'
}

// lex splits src into tokens. Comments run from '#' to the end of the line.
func lex(file string, src []byte) ([]token, error) {
	toks := make([]token, 0, len(src)/5+1) // rules files average 6 bytes or more a token
	line, col := 1, 1
	s := string(src)
	for i := 0; i < len(s); {
		c := s[i]
		ln, cl := int32(line), int32(col)
		adv := func(n int) { i += n; col += n }
		switch {
		case c == '\n':
			toks = append(toks, token{tokNL, ln, cl, "\n"})
			i++
			line, col = line+1, 1
		case c == ' ' || c == '\t' || c == '\r':
			adv(1)
		case c == '\\' && i+1 < len(s) && s[i+1] == '\n':
			i += 2
			line, col = line+1, 1
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				adv(1)
			}
		case c == ';':
			toks = append(toks, token{tokNL, ln, cl, ";"})
			adv(1)
		case c == '"':
			j := strings.IndexAny(s[i+1:], "\"\n")
			if j < 0 || s[i+1+j] != '"' {
				return nil, &ParseError{Pos: Pos{File: file, Line: line, Col: col}, Token: `'"'`, Msg: "unterminated string"}
			}
			toks = append(toks, token{tokString, ln, cl, s[i : i+j+2]})
			adv(j + 2)
		case (c == '=' || c == '!') && i+1 < len(s) && s[i+1] == '=':
			toks = append(toks, token{tokPunct, ln, cl, s[i : i+2]})
			adv(2)
		case strings.IndexByte("{},()[]|&", c) >= 0:
			toks = append(toks, token{tokPunct, ln, cl, s[i : i+1]})
			adv(1)
		case c == '+':
			toks = append(toks, token{tokPunct, ln, cl, "+"})
			adv(1)
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			w := s[i:j]
			kind := tokWord
			if w == ":" || w == "-" {
				kind = tokPunct
			}
			toks = append(toks, token{kind, ln, cl, w})
			adv(j - i)
		default:
			return nil, &ParseError{Pos: Pos{File: file, Line: line, Col: col}, Token: fmt.Sprintf("%q", string(c)), Msg: "unexpected character"}
		}
	}
	toks = append(toks, token{tokEOF, int32(line), int32(col), ""})
	return toks, nil
}
