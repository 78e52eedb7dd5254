package capfilter

import (
	"strings"
	"unicode/utf8"
)

// tokKind classifies a lexical token.
type tokKind int

const (
	tokEOF  tokKind = iota
	tokWord         // keyword, name, number, address, portrange "a-b"
	tokOp           // punctuation and operators: ( ) [ ] : ! = == != < <= > >= << >> & && | || + - * / % ^
)

// token is one lexical token with its 1-based position in the expression.
type token struct {
	kind tokKind
	text string
	line int
	col  int
}

// String returns the token as shown in error messages.
func (t token) String() string {
	if t.kind == tokEOF {
		return "end of expression"
	}
	return "token " + quote(t.text)
}

func quote(s string) string { return `"` + s + `"` }

// isWordStart reports whether c can start a word. Like libpcap's scanner (scanner.l),
// words run over letters, digits and the characters "-_." so that "tcp-syn",
// "1-1024" and "198.18.0.1" are single tokens; IPv6 and MAC addresses also take ':'.
func isWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == '-'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// lex splits expr into tokens. It never fails: characters it does not know become
// one-character operator tokens that the parser rejects with their position.
func lex(expr string) []token {
	var toks []token
	line, col := 1, 1
	i := 0
	adv := func(n int) {
		for k := 0; k < n; k++ {
			switch c := expr[i+k]; {
			case c == '\n':
				line, col = line+1, 1
			case c&0xc0 != 0x80: // columns count characters, not UTF-8 continuation bytes
				col++
			}
		}
		i += n
	}
	for i < len(expr) {
		c := expr[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			adv(1)
			continue
		}
		start := token{line: line, col: col}
		if n := addrLen(expr[i:]); n > 0 {
			start.kind, start.text = tokWord, expr[i:i+n]
			toks = append(toks, start)
			adv(n)
			continue
		}
		if isWordChar(c) && c != '-' {
			n := 1
			for i+n < len(expr) && isWordChar(expr[i+n]) {
				n++
			}
			// A word never ends in '-' or '.' (scanner.l: [-_.A-Za-z0-9]*[.A-Za-z0-9]),
			// so "len-1" stays one word (as in tcpdump) but "x-" splits.
			for n > 1 && expr[i+n-1] == '-' {
				n--
			}
			start.kind, start.text = tokWord, expr[i:i+n]
			toks = append(toks, start)
			adv(n)
			continue
		}
		n := 1
		if c >= utf8.RuneSelf {
			_, n = utf8.DecodeRuneInString(expr[i:])
		} else if i+1 < len(expr) {
			switch expr[i : i+2] {
			case "==", "!=", "<=", ">=", "<<", ">>", "&&", "||":
				n = 2
			}
		}
		start.kind, start.text = tokOp, expr[i:i+n]
		toks = append(toks, start)
		adv(n)
	}
	return append(toks, token{kind: tokEOF, line: line, col: col})
}

// addrLen returns the length of an IPv6 or MAC address (a run of hex digits, ':' and
// '.' holding at least two colons) at the start of s, or 0. A single colon is left to
// the parser, where it separates offset and size in "tcp[2:2]".
func addrLen(s string) int {
	if len(s) == 0 || !(isHex(s[0]) || s[0] == ':') {
		return 0
	}
	n, colons := 0, 0
	for n < len(s) && (isHex(s[n]) || s[n] == ':' || s[n] == '.') {
		if s[n] == ':' {
			colons++
		}
		n++
	}
	if colons < 2 {
		return 0
	}
	// "2001:db8::1:80" cannot be told apart from an address; a trailing letter run
	// such as "abc:def::gh" is not hex and ends the token where hex ends.
	if n < len(s) && isWordChar(s[n]) && !strings.ContainsRune(".-", rune(s[n])) {
		return 0
	}
	return n
}
