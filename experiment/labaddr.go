package experiment

import (
	"net/netip"
	"strconv"

	"gopkg.in/yaml.v3"
)

func (p *parser) addrPort(n *yaml.Node, what string) netip.AddrPort {
	s, ok := p.Scalar(n, what)
	if !ok {
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		p.Errorf(n, "%s %q must be address:port, like 198.18.1.1:80 or [2001:db8::1]:80", what, s)
		return netip.AddrPort{}
	}
	p.labAddr(n, ap.Addr(), what)
	return ap
}

func (p *parser) addr(n *yaml.Node, what string) netip.Addr {
	s, ok := p.Scalar(n, what)
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		p.Errorf(n, "%s %q must be an IP address", what, s)
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
	p.Errorf(n, "%s %s is outside the lab ranges: use 198.18.0.0/15 or 2001:db8::/32", what, a)
}

func strconvQuote(s string) string { return strconv.Quote(s) }
