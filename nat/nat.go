package nat

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/pktlab/pktlab/filter"
)

// DefaultTable is the table the helpers write to unless told otherwise.
const DefaultTable = "pktlab_nat"

// Mapping is one NAT rule a helper builds.
type Mapping interface {
	// rule returns the hook ("prerouting" or "postrouting") and the rule text for a
	// table of family fam.
	rule(fam filter.Family) (hook, text string, err error)
}

// SNAT rewrites the source address (and port) of new connections leaving through
// OutIface (any interface when empty) to To (RFC 3022 "traditional NAT").
type SNAT struct {
	OutIface string
	To       netip.AddrPort // port 0: keep the source port when possible
	Proto    string         // "tcp" or "udp"; required when To has a port
}

// DNAT rewrites the destination of new connections to Proto port Port to To
// (a port forward when To has a port).
type DNAT struct {
	Proto string // "tcp" or "udp"
	Port  uint16
	To    netip.AddrPort
}

// Masquerade is SNAT to the address of the outgoing interface.
type Masquerade struct{ OutIface string }

// Redirect sends new connections to Proto port Port to local port ToPort of the node.
type Redirect struct {
	Proto        string
	Port, ToPort uint16
}

// LoadBalance spreads new connections to Proto port Port over Backends in turn
// (`dnat to numgen inc mod N map { … }`): connection i goes to Backends[i mod N].
type LoadBalance struct {
	Proto    string
	Port     uint16
	Backends []netip.Addr
}

func natFamily(fam filter.Family, a netip.Addr) (string, error) {
	if !a.IsValid() {
		return "", fmt.Errorf("nat: no address given")
	}
	af := "ip"
	if !a.Is4() {
		af = "ip6"
	}
	switch {
	case fam == filter.FamilyINet:
		return " " + af, nil
	case fam == filter.FamilyIP && af == "ip", fam == filter.FamilyIP6 && af == "ip6":
		return "", nil
	}
	return "", fmt.Errorf("nat: %s address %s in a %s table", af, a, fam)
}

func addrPort(ap netip.AddrPort) string {
	a := ap.Addr().String()
	if ap.Port() == 0 {
		return a
	}
	if ap.Addr().Is4() {
		return fmt.Sprintf("%s:%d", a, ap.Port())
	}
	return fmt.Sprintf("[%s]:%d", a, ap.Port())
}

func proto(p string) (string, error) {
	if p != "tcp" && p != "udp" {
		return "", fmt.Errorf("nat: protocol %q: want tcp or udp", p)
	}
	return p, nil
}

func (m SNAT) rule(fam filter.Family) (string, string, error) {
	af, err := natFamily(fam, m.To.Addr())
	if err != nil {
		return "", "", err
	}
	var match []string
	if m.OutIface != "" {
		match = append(match, fmt.Sprintf("oifname %q", m.OutIface))
	}
	if m.To.Port() != 0 {
		p, err := proto(m.Proto)
		if err != nil {
			return "", "", err
		}
		match = append(match, "meta l4proto "+p)
	}
	return "postrouting", strings.Join(append(match, fmt.Sprintf("snat%s to %s", af, addrPort(m.To))), " "), nil
}

func (m DNAT) rule(fam filter.Family) (string, string, error) {
	af, err := natFamily(fam, m.To.Addr())
	if err != nil {
		return "", "", err
	}
	p, err := proto(m.Proto)
	if err != nil {
		return "", "", err
	}
	return "prerouting", fmt.Sprintf("%s dport %d dnat%s to %s", p, m.Port, af, addrPort(m.To)), nil
}

func (m Masquerade) rule(fam filter.Family) (string, string, error) {
	if m.OutIface == "" {
		return "postrouting", "masquerade", nil
	}
	return "postrouting", fmt.Sprintf("oifname %q masquerade", m.OutIface), nil
}

func (m Redirect) rule(fam filter.Family) (string, string, error) {
	p, err := proto(m.Proto)
	if err != nil {
		return "", "", err
	}
	return "prerouting", fmt.Sprintf("%s dport %d redirect to :%d", p, m.Port, m.ToPort), nil
}

func (m LoadBalance) rule(fam filter.Family) (string, string, error) {
	if len(m.Backends) < 2 {
		return "", "", fmt.Errorf("nat: load balancing needs at least two backends")
	}
	af, err := natFamily(fam, m.Backends[0])
	if err != nil {
		return "", "", err
	}
	p, err := proto(m.Proto)
	if err != nil {
		return "", "", err
	}
	var elems []string
	for i, b := range m.Backends {
		if b.Is4() != m.Backends[0].Is4() {
			return "", "", fmt.Errorf("nat: backends mix IPv4 and IPv6")
		}
		elems = append(elems, fmt.Sprintf("%d : %s", i, b))
	}
	return "prerouting", fmt.Sprintf("%s dport %d dnat%s to numgen inc mod %d map { %s }", p, m.Port, af, len(m.Backends), strings.Join(elems, ", ")), nil
}

// Text returns the nft rules file for the mappings: a table with a prerouting
// (dstnat) and a postrouting (srcnat) nat chain.
func Text(fam filter.Family, table string, ms ...Mapping) (string, error) {
	if table == "" {
		table = DefaultTable
	}
	var pre, post []string
	for _, m := range ms {
		hook, text, err := m.rule(fam)
		if err != nil {
			return "", err
		}
		if hook == "prerouting" {
			pre = append(pre, "\t\t"+text+"\n")
		} else {
			post = append(post, "\t\t"+text+"\n")
		}
	}
	return fmt.Sprintf("table %s %s {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n%s\t}\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n%s\t}\n}\n",
		fam, table, strings.Join(pre, ""), strings.Join(post, "")), nil
}

// Build parses the mappings' rules file with the filter package.
func Build(fam filter.Family, table string, ifs filter.Interfaces, ms ...Mapping) (*filter.Ruleset, error) {
	src, err := Text(fam, table, ms...)
	if err != nil {
		return nil, err
	}
	return filter.Parse("nat", []byte(src), ifs)
}
