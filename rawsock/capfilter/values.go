package capfilter

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// value turns one id under qualifiers q into a test, checking the combinations
// libpcap checks (gencode.c gen_scode, gen_ncode, gen_mcode, gen_ecode).
func (p *parser) value(q qual, t token) node {
	switch q.addr {
	case aqPort, aqPortrange:
		return p.portValue(q, t)
	}
	if mac, err := net.ParseMAC(t.text); err == nil && len(mac) == 6 && strings.Count(t.text, ":") == 5 {
		if q.proto != pqLink {
			panic(errAt(t, "ethernet address %s used in a non-ether expression (write ether host %s)", t.text, t.text))
		}
		if q.addr == aqNet {
			panic(errAt(t, "ethernet address %s cannot be a net", t.text))
		}
		if p.o.lt == LinkTypeRaw {
			panic(errAt(t, "ether host needs an Ethernet header; frames of link type %v have none", p.o.lt))
		}
		return etherHost(q.dir, mac)
	}
	if q.proto == pqLink {
		panic(errAt(t, "unexpected %v (expected a MAC address such as 02:00:00:00:00:01)", t))
	}
	if a, err := netip.ParseAddr(t.text); err == nil && a.Is6() && !a.Is4In6() && a.Zone() == "" {
		return p.host6Value(q, t, a)
	}
	if isNumber(t.text) && q.addr != aqNet {
		panic(errAt(t, "a bare number needs a qualifier: write port %s, proto %s or net %s", t.text, t.text, t.text))
	}
	if addr, bits, ok := parseIPv4Prefix(t.text); ok {
		return p.host4Value(q, t, addr, bits)
	}
	switch q.addr {
	case aqDefault, aqHost, aqNet:
		panic(errAt(t, "cannot use %q: host and network names are not supported, write an IPv4 or IPv6 address", t.text))
	}
	panic(errAt(t, "unexpected %v (expected %s)", t, expectedValue(q)))
}

// mask returns the optional "/len" or "mask ADDR" after a net value: bits, or -1.
func (p *parser) maskSuffix(q qual, v token, v6 bool) int {
	t := p.peek()
	if t.text != "/" && t.text != "mask" {
		return -1
	}
	if q.addr != aqNet {
		sep := "/"
		if t.text == "mask" {
			sep = " mask "
		}
		panic(errAt(t, "mask syntax is for networks only: write net %s%s…", v.text, sep))
	}
	p.next()
	if t.text == "/" {
		nt := p.peek()
		n := p.number()
		if v6 && n > 128 {
			panic(errAt(nt, "mask length %d must be <= 128", n))
		}
		if !v6 && n > 32 {
			panic(errAt(nt, "mask length %d must be <= 32", n))
		}
		return int(n)
	}
	mt := p.next()
	if v6 {
		panic(errAt(mt, "\"mask\" is for IPv4 networks: write %s/LEN", v.text))
	}
	m, err := netip.ParseAddr(mt.text)
	if err != nil || !m.Is4() {
		panic(errAt(mt, "unexpected %v (expected a netmask such as 255.255.0.0)", mt))
	}
	b := m.As4()
	bits := 0
	for bits < 32 && b[bits/8]&(0x80>>(bits%8)) != 0 {
		bits++
	}
	if be32(b[:]) != ^uint32(0)<<(32-bits) {
		panic(errAt(mt, "netmask %s is not contiguous", mt.text))
	}
	return bits
}

func maskBytes(bits, n int) []byte {
	m := make([]byte, n)
	for i := 0; i < bits; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

func (p *parser) host4Value(q qual, t token, addr [4]byte, bits int) node {
	switch q.proto {
	case pqNone, pqIP, pqARP, pqRARP:
	default:
		panic(errAt(t, "'%v' modifier applied to host %s (use ip, arp or rarp, or none)", q.proto, t.text))
	}
	if q.addr == aqNet {
		if m := p.maskSuffix(q, t, false); m >= 0 {
			bits = m
		}
	} else {
		p.maskSuffix(q, t, false)
		if bits != 32 {
			panic(errAt(t, "%s is not a complete IPv4 address (write net %s for a network)", t.text, t.text))
		}
	}
	mask := maskBytes(bits, 4)
	for i := range addr {
		if addr[i]&^mask[i] != 0 {
			panic(errAt(t, "non-network bits set in %q (/%d)", t.text, bits))
		}
	}
	return p.o.host4(q.proto, q.dir, addr[:], mask)
}

func (p *parser) host6Value(q qual, t token, a netip.Addr) node {
	switch q.proto {
	case pqNone, pqIP6:
	default:
		panic(errAt(t, "'%v' modifier applied to IPv6 host %s (use ip6 or none)", q.proto, t.text))
	}
	bits := 128
	if q.addr == aqNet {
		if m := p.maskSuffix(q, t, true); m >= 0 {
			bits = m
		}
	} else {
		p.maskSuffix(q, t, true)
	}
	addr := a.As16()
	mask := maskBytes(bits, 16)
	for i := range addr {
		if addr[i]&^mask[i] != 0 {
			panic(errAt(t, "non-network bits set in %q (/%d)", t.text, bits))
		}
	}
	return p.o.host6(q.dir, addr[:], mask)
}

// parseIPv4Prefix parses a dotted IPv4 address with 1 to 4 parts, returning the
// implied prefix length (8 per part) as libpcap's __pcap_atoin does for "net 198.18".
func parseIPv4Prefix(s string) (addr [4]byte, bits int, ok bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return addr, 0, false
	}
	for i, part := range parts {
		if part == "" || len(part) > 3 {
			return addr, 0, false
		}
		v, err := strconv.ParseUint(part, 10, 8)
		if err != nil {
			return addr, 0, false
		}
		addr[i] = byte(v)
	}
	if len(parts) == 1 {
		// A lone number is a network number only under "net"; callers see
		// isNumber first for the other qualifiers.
		return addr, 8, true
	}
	return addr, 8 * len(parts), true
}

// portValue handles "port N" and "portrange A-B".
func (p *parser) portValue(q qual, t token) node {
	switch q.proto {
	case pqNone, pqTCP, pqUDP, pqSCTP:
	default:
		panic(errAt(t, "illegal qualifier of '%v': '%v' (port applies to tcp, udp or sctp)", q.addr, q.proto))
	}
	var lo, hi uint32
	if q.addr == aqPort {
		lo = p.portNumber(t, t.text)
		hi = lo
	} else {
		a, b, found := strings.Cut(t.text, "-")
		lo = p.portNumber(t, a)
		hi = lo
		if found {
			hi = p.portNumber(t, b)
		}
	}
	return p.o.port(q.proto.ipProtocol(), q.dir, rangePort(lo, hi))
}

func (p *parser) portNumber(t token, s string) uint32 {
	v, ok := parseNumber(s)
	if !ok {
		if strings.Count(s, "-") == 1 {
			panic(errAt(t, "port takes one number: write portrange %s for a range", s))
		}
		if strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }) >= 0 && !strings.Contains(s, ":") {
			panic(errAt(t, "cannot use %q: port names are not supported, write a number", s))
		}
		panic(errAt(t, "unexpected %v (expected a port number)", t))
	}
	if v > 65535 {
		panic(errAt(t, "illegal port number %d > 65535", v))
	}
	return v
}
