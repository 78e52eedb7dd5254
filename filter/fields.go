package filter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Interfaces resolves interface names to indexes and back, in the namespace the rules
// apply to: nft resolves `iif "eth0"` to an index when it parses a rule, and prints the
// name again when it lists it.
type Interfaces interface {
	Index(name string) (int, bool)
	Name(index int) (string, bool)
}

// InterfaceMap is an Interfaces made of a fixed name → index map.
type InterfaceMap map[string]int

// Index implements Interfaces.
func (m InterfaceMap) Index(name string) (int, bool) { i, ok := m[name]; return i, ok }

// Name implements Interfaces.
func (m InterfaceMap) Name(index int) (string, bool) {
	for n, i := range m {
		if i == index {
			return n, true
		}
	}
	return "", false
}

// dataType is how a field's bytes are parsed, printed and typed in sets.
type dataType uint8

const (
	dtIPv4 dataType = iota + 1
	dtIPv6
	dtPort      // inet_service, big endian
	dtProto     // inet_proto
	dtUint8     // integer, e.g. ip ttl
	dtMark      // mark, host endian, printed 0x%08x
	dtIfIndex   // iface_index, host endian
	dtIfName    // ifname, 16 bytes NUL padded
	dtCtState   // ct_state, host endian bitmask
	dtNfproto   // nfproto (a dependency only)
	dtEthertype // ether_type, big endian (a dependency only)
	dtICMPType  // icmp_type: named ICMP message type
	dtICMP6Type // icmpv6_type
	dtICMPCode  // icmp_code: named destination-unreachable code
	dtICMP6Code // icmpv6_code
	dtUint16    // integer, 16 bits big endian, e.g. icmp id
)

func (d dataType) size() int {
	return [...]int{0, 4, 16, 2, 1, 1, 4, 4, 16, 4, 1, 2, 1, 1, 1, 1, 2}[d]
}

// names returns the value names of a named 8-bit type, as nft prints them.
func (d dataType) names() map[uint8]string {
	switch d {
	case dtICMPType:
		return icmpTypeNames
	case dtICMP6Type:
		return icmp6TypeNames
	case dtICMPCode:
		return icmpCodeNames
	case dtICMP6Code:
		return icmp6CodeNames
	}
	return nil
}

// what names a named type in errors.
func (d dataType) what() string {
	return map[dataType]string{dtICMPType: "icmp type", dtICMP6Type: "icmpv6 type", dtICMPCode: "icmp code", dtICMP6Code: "icmpv6 code"}[d]
}

// setType is the nft datatype a set of this type is declared with (nft's
// include/datatype.h TYPE_*), so that `nft list` prints its elements correctly.
func (d dataType) setType() nftables.SetDatatype {
	switch d {
	case dtIPv4:
		return nftables.TypeIPAddr
	case dtIPv6:
		return nftables.TypeIP6Addr
	case dtPort:
		return nftables.TypeInetService
	case dtProto:
		return nftables.TypeInetProto
	case dtMark:
		return nftables.TypeMark
	case dtIfIndex:
		return nftables.TypeIFIndex
	case dtIfName:
		return nftables.TypeIFName
	case dtCtState:
		return nftables.TypeCTState
	case dtICMPType:
		return nftables.TypeICMPType
	case dtICMP6Type:
		return nftables.TypeICMP6Type
	case dtICMPCode:
		return nftables.TypeICMPCode
	case dtICMP6Code:
		return nftables.TypeICMPV6Code
	}
	t := nftables.TypeInteger
	t.Bytes = uint32(d.size())
	return t
}

// ordered reports whether ranges and prefixes make sense for the type.
func (d dataType) ordered() bool {
	switch d {
	case dtIPv4, dtIPv6, dtPort, dtUint8, dtMark, dtProto, dtUint16:
		return true
	}
	// ICMP types and codes are integers to nft too, but their names hold '-', so that
	// a range of them (echo-reply-echo-request) would not read as one; the subset
	// leaves them out.
	return false
}

func (d dataType) prefixable() bool { return d == dtIPv4 || d == dtIPv6 }

// isName reports a value name that holds a '-' (ipv6-icmp), which is not a range.
func (d dataType) isName(s string) bool {
	if d != dtProto {
		return false
	}
	_, ok := lookupCode(protoNames, s)
	return ok
}

// parse turns one token into register bytes.
func (d dataType) parse(s string, ifs Interfaces) ([]byte, error) {
	switch d {
	case dtIPv4, dtIPv6:
		a, err := netip.ParseAddr(s)
		if err != nil || (d == dtIPv4) != a.Is4() {
			return nil, fmt.Errorf("not an %s address", map[dataType]string{dtIPv4: "IPv4", dtIPv6: "IPv6"}[d])
		}
		return a.AsSlice(), nil
	case dtProto:
		if n, ok := lookupCode(protoNames, s); ok {
			return []byte{n}, nil
		}
		return d.parseUint(s)
	case dtPort, dtUint8, dtUint16, dtMark:
		return d.parseUint(s)
	case dtICMPType, dtICMP6Type, dtICMPCode, dtICMP6Code:
		return d.parseNamed(s)
	case dtNfproto:
		v, ok := map[string]byte{"ipv4": unix.NFPROTO_IPV4, "ipv6": unix.NFPROTO_IPV6}[s]
		if !ok {
			return nil, fmt.Errorf("expected ipv4 or ipv6")
		}
		return []byte{v}, nil
	case dtEthertype:
		v, ok := map[string]uint16{"ip": unix.ETH_P_IP, "ip6": unix.ETH_P_IPV6}[s]
		if !ok {
			return nil, fmt.Errorf("expected ip or ip6 (other ether types are not in the subset)")
		}
		return binary.BigEndian.AppendUint16(nil, v), nil
	case dtIfIndex:
		return parseIfIndex(s, ifs)
	case dtIfName:
		return parseIfName(s)
	}
	return nil, fmt.Errorf("cannot parse values of this type")
}

// uintTypes are the integer types: their width, byte order in the register and what
// an error calls a value.
var uintTypes = [...]struct {
	bits   int
	native bool // host byte order (marks), else network order
	what   string
}{
	dtPort:   {16, false, "a port number (0-65535)"},
	dtProto:  {8, false, "a protocol name or number (0-255)"},
	dtUint8:  {8, false, "a number (0-255)"},
	dtUint16: {16, false, "a number (0-65535)"},
	dtMark:   {32, true, "a 32-bit mark"},
}

// parseUint parses a number (decimal, 0x hex or 0 octal, as nft) of an integer type.
func (d dataType) parseUint(s string) ([]byte, error) {
	t := uintTypes[d]
	n, err := strconv.ParseUint(s, 0, t.bits)
	if err != nil {
		return nil, fmt.Errorf("not %s", t.what)
	}
	switch {
	case t.bits == 8:
		return []byte{byte(n)}, nil
	case t.bits == 16:
		return binary.BigEndian.AppendUint16(nil, uint16(n)), nil
	case t.native:
		return binary.NativeEndian.AppendUint32(nil, uint32(n)), nil
	}
	return binary.BigEndian.AppendUint32(nil, uint32(n)), nil
}

// parseNamed parses an ICMP or ICMPv6 type or code: a name or a number 0-255.
func (d dataType) parseNamed(s string) ([]byte, error) {
	names := d.names()
	if v, ok := lookupCode(names, s); ok {
		return []byte{v}, nil
	}
	if v, ok := icmp6TypeAliases[s]; ok && d == dtICMP6Type {
		return []byte{v}, nil
	}
	if n, err := strconv.ParseUint(s, 0, 8); err == nil {
		return []byte{byte(n)}, nil
	}
	return nil, fmt.Errorf("unknown %s (a number 0-255 or one of %s)", d.what(), nameList(names))
}

// parseIfIndex resolves an interface name (quoted or not) to its index in the node.
func parseIfIndex(s string, ifs Interfaces) ([]byte, error) {
	name, ok := unquote(s)
	if !ok {
		name = s
	}
	if ifs == nil {
		return nil, fmt.Errorf("interface %q cannot be resolved without a node (use iifname/oifname)", name)
	}
	idx, ok := ifs.Index(name)
	if !ok {
		return nil, fmt.Errorf("interface %q does not exist in the node", name)
	}
	return binary.NativeEndian.AppendUint32(nil, uint32(idx)), nil
}

// parseIfName parses an interface name (quoted or not) into the kernel's 16 bytes.
func parseIfName(s string) ([]byte, error) {
	name, ok := unquote(s)
	if !ok {
		name = s
	}
	if !validIfName(name) {
		return nil, fmt.Errorf("not an interface name (1-15 printable characters, no wildcards)")
	}
	b := make([]byte, 16)
	copy(b, name)
	return b, nil
}

// appendFormat appends what format prints, the common types without an intermediate
// string.
func (d dataType) appendFormat(b, v []byte, ifs Interfaces) []byte {
	switch d {
	case dtIPv4, dtIPv6:
		if a, ok := netip.AddrFromSlice(v); ok {
			return a.AppendTo(b)
		}
	case dtPort, dtUint16:
		return strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(v)), 10)
	case dtUint8:
		return strconv.AppendUint(b, uint64(v[0]), 10)
	}
	return append(b, d.format(v, ifs)...)
}

// format prints register bytes the way nft lists them.
func (d dataType) format(b []byte, ifs Interfaces) string {
	switch d {
	case dtIPv4, dtIPv6:
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return fmt.Sprintf("0x%x", b)
		}
		return a.String()
	case dtPort:
		return strconv.Itoa(int(binary.BigEndian.Uint16(b)))
	case dtProto:
		if n, ok := protoNames[b[0]]; ok {
			return n
		}
		return strconv.Itoa(int(b[0]))
	case dtUint8:
		return strconv.Itoa(int(b[0]))
	case dtUint16:
		return strconv.Itoa(int(binary.BigEndian.Uint16(b)))
	case dtICMPType, dtICMP6Type, dtICMPCode, dtICMP6Code:
		if n, ok := d.names()[b[0]]; ok {
			return n
		}
		return strconv.Itoa(int(b[0]))
	case dtMark:
		return fmt.Sprintf("0x%08x", binary.NativeEndian.Uint32(b))
	case dtIfIndex:
		idx := int(binary.NativeEndian.Uint32(b))
		if ifs != nil {
			if n, ok := ifs.Name(idx); ok {
				return `"` + n + `"`
			}
		}
		return strconv.Itoa(idx)
	case dtIfName:
		return `"` + strings.TrimRight(string(b), "\x00") + `"`
	case dtCtState:
		return CtState(binary.NativeEndian.Uint32(b)).String()
	case dtNfproto:
		switch b[0] {
		case unix.NFPROTO_IPV4:
			return "ipv4"
		case unix.NFPROTO_IPV6:
			return "ipv6"
		}
		return ""
	case dtEthertype:
		switch binary.BigEndian.Uint16(b) {
		case unix.ETH_P_IP:
			return "ip"
		case unix.ETH_P_IPV6:
			return "ip6"
		}
		return ""
	}
	return fmt.Sprintf("0x%x", b)
}

// nameList lists a type's names in value order, for error messages.
func nameList(names map[uint8]string) string {
	vals := make([]int, 0, len(names))
	for v := range names {
		vals = append(vals, int(v))
	}
	sort.Ints(vals)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = names[uint8(v)]
	}
	return strings.Join(out, ", ")
}

// validIfName accepts the interface names pktlab can write back in nft syntax: 1-15
// printable ASCII characters without quotes, backslashes or wildcards (the kernel's
// dev_valid_name allows more, but lab interfaces never need it).
func validIfName(s string) bool {
	if len(s) == 0 || len(s) >= 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' || c == '*' || c == '/' {
			return false
		}
	}
	return true
}

func unquote(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1], true
	}
	return "", false
}

// fieldKind says where a field's value is loaded from.
type fieldKind uint8

const (
	kindMeta fieldKind = iota + 1
	kindPayload
	kindCt
)

// Field is a packet field the subset can match: its nft name, how the kernel loads it
// and the protocol context it needs (nft's payload dependencies).
type Field struct {
	Name   string
	kind   fieldKind
	meta   expr.MetaKey
	base   expr.PayloadBase
	offset uint32
	dt     dataType
	// l3 is FamilyIP or FamilyIP6 for network header fields; l4 is the transport
	// protocol for transport header fields.
	l3 Family
	l4 uint8
	// echo marks fields of ICMP echo messages only (id, sequence): nft makes them
	// depend on `icmp type { echo-reply, echo-request }` unless the rule already
	// matched an echo type.
	echo bool
	// protoKey marks the field that names the next header's protocol (nft's
	// EXPR_F_PROTOCOL): a merged comparison holding it takes its place in the rule.
	protoKey bool
}

func (f *Field) String() string { return f.Name }

// Fields of the subset. Offsets are those of the IPv4 (RFC 791 §3.1), IPv6 (RFC 8200 §3),
// TCP (RFC 9293 §3.1), UDP (RFC 768), ICMP (RFC 792) and ICMPv6 (RFC 4443 §2.1, §4.1)
// headers. icmp/icmpv6 fields carry no l3: nft accepts `icmp type` in ip6 tables and
// `icmpv6 type` after `ip saddr` (only the l4proto dependency applies there).
var fields = []*Field{
	{Name: "iif", kind: kindMeta, meta: expr.MetaKeyIIF, dt: dtIfIndex},
	{Name: "oif", kind: kindMeta, meta: expr.MetaKeyOIF, dt: dtIfIndex},
	{Name: "iifname", kind: kindMeta, meta: expr.MetaKeyIIFNAME, dt: dtIfName},
	{Name: "oifname", kind: kindMeta, meta: expr.MetaKeyOIFNAME, dt: dtIfName},
	{Name: "meta l4proto", kind: kindMeta, meta: expr.MetaKeyL4PROTO, dt: dtProto},
	{Name: "meta mark", kind: kindMeta, meta: expr.MetaKeyMARK, dt: dtMark},
	{Name: "ip ttl", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 8, dt: dtUint8, l3: FamilyIP},
	{Name: "ip protocol", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 9, dt: dtProto, l3: FamilyIP, protoKey: true},
	{Name: "ip saddr", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 12, dt: dtIPv4, l3: FamilyIP},
	{Name: "ip daddr", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 16, dt: dtIPv4, l3: FamilyIP},
	{Name: "ip6 hoplimit", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 7, dt: dtUint8, l3: FamilyIP6},
	{Name: "ip6 saddr", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 8, dt: dtIPv6, l3: FamilyIP6},
	{Name: "ip6 daddr", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 24, dt: dtIPv6, l3: FamilyIP6},
	{Name: "tcp sport", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 0, dt: dtPort, l4: protoTCP},
	{Name: "tcp dport", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 2, dt: dtPort, l4: protoTCP},
	{Name: "udp sport", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 0, dt: dtPort, l4: protoUDP},
	{Name: "udp dport", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 2, dt: dtPort, l4: protoUDP},
	{Name: "icmp type", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 0, dt: dtICMPType, l4: protoICMP},
	{Name: "icmp code", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 1, dt: dtICMPCode, l4: protoICMP},
	{Name: "icmp id", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 4, dt: dtUint16, l4: protoICMP, echo: true},
	{Name: "icmp sequence", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 6, dt: dtUint16, l4: protoICMP, echo: true},
	{Name: "icmpv6 type", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 0, dt: dtICMP6Type, l4: protoICMPv6},
	{Name: "icmpv6 code", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 1, dt: dtICMP6Code, l4: protoICMPv6},
	{Name: "icmpv6 id", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 4, dt: dtUint16, l4: protoICMPv6, echo: true},
	{Name: "icmpv6 sequence", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 6, dt: dtUint16, l4: protoICMPv6, echo: true},
	{Name: "ct state", kind: kindCt, dt: dtCtState},
}

// lookupField2 is lookupField(a + " " + b) without building the string.
func lookupField2(a, b string) *Field {
	for _, f := range fields {
		n := f.Name
		if len(n) == len(a)+1+len(b) && n[:len(a)] == a && n[len(a)] == ' ' && n[len(a)+1:] == b {
			return f
		}
	}
	return nil
}

func lookupField(name string) *Field {
	for _, f := range fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}
