package experiment

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// mapping checks that n is a mapping with only allowed keys (nil: any) and calls fn
// for each pair in order.
func (p *parser) mapping(n *yaml.Node, what string, allowed []string, fn func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping, not %s", what, kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			p.errorf(k, "%s: %q is given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			p.errorf(k, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(allowed, ", "))
			continue
		}
		fn(k, v)
	}
}

// choice reads a scalar that must be one of list; note, if not empty, follows the
// list in the error (e.g. where the names come from).
func (p *parser) choice(n *yaml.Node, what string, list []string, note string) string {
	s, ok := p.scalar(n, what)
	if ok && !slices.Contains(list, s) {
		if note != "" {
			note = " (" + note + ")"
		}
		p.errorf(n, "%s %q must be one of %s%s", what, s, strings.Join(list, ", "), note)
	}
	return s
}

func kindName(n *yaml.Node) string {
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

func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%s must be a scalar, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) duration(n *yaml.Node, what string) time.Duration {
	s, ok := p.scalar(n, what)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		p.errorf(n, "%s %q is not a duration: write it in Go syntax, like 500ms, 2s or 1m30s", what, s)
		return 0
	}
	return d
}

func (p *parser) integer(n *yaml.Node, what string, lo, hi int64) int {
	s, ok := p.scalar(n, what)
	if !ok {
		return 0
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil || v < lo || v > hi {
		p.errorf(n, "%s %q must be an integer from %d to %d", what, s, lo, hi)
		return 0
	}
	return int(v)
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	s, ok := p.scalar(n, what)
	if !ok {
		return false
	}
	switch s {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	p.errorf(n, "%s %q must be true or false", what, s)
	return false
}

func (p *parser) addrPort(n *yaml.Node, what string) netip.AddrPort {
	s, ok := p.scalar(n, what)
	if !ok {
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		p.errorf(n, "%s %q must be address:port, like 198.18.1.1:80 or [2001:db8::1]:80", what, s)
		return netip.AddrPort{}
	}
	p.labAddr(n, ap.Addr(), what)
	return ap
}

func (p *parser) addr(n *yaml.Node, what string) netip.Addr {
	s, ok := p.scalar(n, what)
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		p.errorf(n, "%s %q must be an IP address", what, s)
		return netip.Addr{}
	}
	p.labAddr(n, a, what)
	return a
}

var labRanges = []netip.Prefix{
	netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("0.0.0.0/32"), netip.MustParsePrefix("::/128"),
}

// labAddr rejects addresses outside the lab ranges (and loopback or unspecified).
func (p *parser) labAddr(n *yaml.Node, a netip.Addr, what string) {
	for _, r := range labRanges {
		if r.Contains(a.Unmap()) {
			return
		}
	}
	p.errorf(n, "%s %s is outside the lab ranges: use 198.18.0.0/15 or 2001:db8::/32", what, a)
}

// stringList accepts a scalar or a list of scalars.
func (p *parser) stringList(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind == yaml.ScalarNode {
		return []*yaml.Node{n}
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s must be a list, not %s", what, kindName(n))
		return nil
	}
	var out []*yaml.Node
	for _, c := range n.Content {
		if _, ok := p.scalar(c, what+" entry"); ok {
			out = append(out, c)
		}
	}
	return out
}

func values(ns []*yaml.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Value
	}
	return out
}

func strconvQuote(s string) string { return strconv.Quote(s) }
