// Package yamlpos holds what pktlab's YAML file parsers share (testlab's topologies,
// experiment files): positions, errors at a position, an error list whose text is
// capped, and the checks every parser makes of a node's kind (a mapping with known
// keys, a scalar, a duration, an integer in range, a boolean, a list of scalars). It
// knows no file format: what a key means is the parser's.
package yamlpos

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Pos is a position in a file: line and column from 1; Line 0 means the whole file.
type Pos struct {
	File      string
	Line, Col int
}

// At is the position of n in file.
func At(file string, n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: file}
	}
	return Pos{file, n.Line, n.Column}
}

func (p Pos) String() string {
	f := p.File
	if f == "" {
		f = "<input>"
	}
	if p.Line == 0 {
		return f
	}
	return fmt.Sprintf("%s:%d:%d", f, p.Line, p.Col)
}

// Error is one problem in a file, at its position.
type Error struct {
	Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList is every problem found in a file, in file order. It unwraps to its
// elements, so errors.As(err, new(*Error)) finds the first.
type ErrorList []*Error

// MaxShown is how many errors an ErrorList's text lists before it only counts the
// rest: a file with 200 000 mistakes is not read by printing them all.
const MaxShown = 20

func (l ErrorList) Error() string {
	n := min(len(l), MaxShown)
	s := make([]string, n, n+1)
	for i, e := range l[:n] {
		s[i] = e.Error()
	}
	if more := len(l) - n; more > 0 {
		s = append(s, fmt.Sprintf("and %d more errors", more))
	}
	return strings.Join(s, "\n")
}

// Unwrap returns the individual errors.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Sort puts the errors in file order (stable for errors at one position).
func (l ErrorList) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
}

// SyntaxError turns a yaml.v3 error ("yaml: line 3: …", or a type error's list) into
// an Error at that line.
func SyntaxError(file string, err error) *Error {
	var te *yaml.TypeError
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if errors.As(err, &te) {
		msg = strings.Join(te.Errors, "; ")
	}
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = n, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	e := &Error{Pos: Pos{File: file, Line: line}, Msg: "bad YAML: " + msg}
	if line > 0 {
		e.Col = 1
	}
	return e
}

// KindName says what a node is, for errors: "a mapping", "the scalar \"x\"".
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the scalar %q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// Errors collects the errors of one file as its parser walks the node tree.
type Errors struct {
	File string
	Errs ErrorList
}

// At is the position of n in the file.
func (c *Errors) At(n *yaml.Node) Pos { return At(c.File, n) }

// Errorf records an error at n (the whole file if n is nil).
func (c *Errors) Errorf(n *yaml.Node, format string, args ...any) {
	c.Errs = append(c.Errs, &Error{Pos: c.At(n), Msg: fmt.Sprintf(format, args...)})
}

// Mapping checks that n is a mapping with only allowed keys (nil: any), each once,
// and calls fn for each pair in order.
func (c *Errors) Mapping(n *yaml.Node, what string, allowed []string, fn func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		c.Errorf(n, "%s must be a mapping, not %s", what, KindName(n))
		return
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			c.Errorf(k, "%s: %q is given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			c.Errorf(k, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(allowed, ", "))
			continue
		}
		fn(k, v)
	}
}

// Scalar returns n's value, or records an error if n is not a scalar.
func (c *Errors) Scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		c.Errorf(n, "%s must be a scalar, not %s", what, KindName(n))
		return "", false
	}
	return n.Value, true
}

// Choice reads a scalar that must be one of list; note, if not empty, follows the
// list in the error (where the names come from).
func (c *Errors) Choice(n *yaml.Node, what string, list []string, note string) string {
	s, ok := c.Scalar(n, what)
	if ok && !slices.Contains(list, s) {
		if note != "" {
			note = " (" + note + ")"
		}
		c.Errorf(n, "%s %q must be one of %s%s", what, s, strings.Join(list, ", "), note)
	}
	return s
}

// Duration reads a non-negative duration in Go syntax (500ms, 2s).
func (c *Errors) Duration(n *yaml.Node, what string) time.Duration {
	s, ok := c.Scalar(n, what)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		c.Errorf(n, "%s %q is not a duration: write it in Go syntax, like 500ms, 2s or 1m30s", what, s)
		return 0
	}
	return d
}

// Integer reads an integer from lo to hi (decimal, or 0x… hex).
func (c *Errors) Integer(n *yaml.Node, what string, lo, hi int64) int {
	s, ok := c.Scalar(n, what)
	if !ok {
		return 0
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil || v < lo || v > hi {
		c.Errorf(n, "%s %q must be an integer from %d to %d", what, s, lo, hi)
		return 0
	}
	return int(v)
}

// Bool reads true/yes/on or false/no/off.
func (c *Errors) Bool(n *yaml.Node, what string) bool {
	s, ok := c.Scalar(n, what)
	if !ok {
		return false
	}
	switch s {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	c.Errorf(n, "%s %q must be true or false", what, s)
	return false
}

// List accepts a scalar or a list of scalars and returns the scalar nodes.
func (c *Errors) List(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind == yaml.ScalarNode {
		return []*yaml.Node{n}
	}
	if n.Kind != yaml.SequenceNode {
		c.Errorf(n, "%s must be a list, not %s", what, KindName(n))
		return nil
	}
	out := make([]*yaml.Node, 0, len(n.Content))
	for _, e := range n.Content {
		if _, ok := c.Scalar(e, what+" entry"); ok {
			out = append(out, e)
		}
	}
	return out
}

// Values are the values of scalar nodes.
func Values(ns []*yaml.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Value
	}
	return out
}

// HasKey reports whether the mapping n has the key.
func HasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}
