package capfilter

import (
	"fmt"
	"strings"
	"testing"
)

// TestParseWorkIsLinear: the parser's work (tokens consumed, backtracking included)
// grows with the length of the expression, not with its square, for deep nesting of
// boolean and arithmetic parentheses: before, rterm's try of arithmetic at each "("
// rescanned everything inside it, n²/2 tokens for n levels (1.3 s at depth 2 000).
func TestParseWorkIsLinear(t *testing.T) {
	shapes := map[string]func(d int) string{
		"boolean": func(d int) string { return strings.Repeat("(", d) + "tcp" + strings.Repeat(")", d) },
		"relation": func(d int) string {
			return strings.Repeat("(", d-1) + "tcp[0] & 1 = 1" + strings.Repeat(")", d-1) // "[" nests too
		},
		"arithmetic": func(d int) string { return strings.Repeat("(", d) + "1" + strings.Repeat(")", d) + " = 1" },
		"mixed": func(d int) string {
			return strings.Repeat("(tcp or (", d/2) + "udp" + strings.Repeat("))", d/2)
		},
		"ids": func(d int) string {
			return "host 198.18.0.1 or " + strings.Repeat("(", d) + "198.18.0.2" + strings.Repeat(")", d)
		},
	}
	for name, shape := range shapes {
		for _, d := range []int{MaxDepth / 4, MaxDepth / 2, MaxDepth} {
			expr := shape(d)
			_, steps, err := parseCounting(expr, LinkTypeEthernet)
			if err != nil {
				t.Errorf("%s at depth %d: %v", name, d, err)
				continue
			}
			if toks := len(lex(expr)); steps > 2*toks {
				t.Errorf("%s at depth %d: %d steps for %d tokens; want at most 2 a token", name, d, steps, toks)
			}
		}
	}
}

// TestMaxDepth: nesting up to MaxDepth compiles; one level more is refused with the
// position of the token that goes too deep, for each kind of nesting.
func TestMaxDepth(t *testing.T) {
	for name, shape := range map[string]func(d int) string{
		"(":     func(d int) string { return strings.Repeat("(", d) + "tcp" + strings.Repeat(")", d) },
		"not":   func(d int) string { return strings.Repeat("not ", d) + "tcp" },
		"-":     func(d int) string { return "len = " + strings.Repeat("-", d) + "1" },
		"[":     func(d int) string { return strings.Repeat("ip[", d) + "0" + strings.Repeat("]", d) + " = 1" },
		"id (":  func(d int) string { return "host " + strings.Repeat("(", d) + "198.18.0.1" + strings.Repeat(")", d) },
		"arith": func(d int) string { return strings.Repeat("(", d) + "1" + strings.Repeat(")", d) + " = 1" },
	} {
		if _, err := Compile(shape(MaxDepth), LinkTypeEthernet); err != nil {
			t.Errorf("%s nested %d deep: %v", name, MaxDepth, err)
		}
		_, err := Compile(shape(MaxDepth+1), LinkTypeEthernet)
		want := fmt.Sprintf("nested deeper than %d levels", MaxDepth)
		if !IsSyntax(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s nested %d deep: %v, want a syntax error saying %q", name, MaxDepth+1, err, want)
		}
	}
	// Deeper input of any size is refused, not recursed into.
	huge := strings.Repeat("(", 1<<20)
	if _, err := Compile(huge, LinkTypeEthernet); !IsSyntax(err) {
		t.Errorf("a million parentheses: %v", err)
	}
}
