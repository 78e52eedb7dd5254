package filter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
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
)

func (d dataType) size() int {
	return [...]int{0, 4, 16, 2, 1, 1, 4, 4, 16, 4, 1, 2}[d]
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
	}
	t := nftables.TypeInteger
	t.Bytes = uint32(d.size())
	return t
}

// ordered reports whether ranges and prefixes make sense for the type.
func (d dataType) ordered() bool {
	switch d {
	case dtIPv4, dtIPv6, dtPort, dtUint8, dtMark, dtProto:
		return true
	}
	return false
}

func (d dataType) prefixable() bool { return d == dtIPv4 || d == dtIPv6 }

// parse turns one token into register bytes.
func (d dataType) parse(s string, ifs Interfaces) ([]byte, error) {
	switch d {
	case dtIPv4, dtIPv6:
		a, err := netip.ParseAddr(s)
		if err != nil || (d == dtIPv4) != a.Is4() {
			return nil, fmt.Errorf("not an %s address", map[dataType]string{dtIPv4: "IPv4", dtIPv6: "IPv6"}[d])
		}
		return a.AsSlice(), nil
	case dtPort:
		n, err := strconv.ParseUint(s, 0, 16)
		if err != nil {
			return nil, fmt.Errorf("not a port number (0-65535)")
		}
		return binary.BigEndian.AppendUint16(nil, uint16(n)), nil
	case dtProto:
		for n, name := range protoNames {
			if name == s {
				return []byte{n}, nil
			}
		}
		n, err := strconv.ParseUint(s, 0, 8)
		if err != nil {
			return nil, fmt.Errorf("not a protocol name or number (0-255)")
		}
		return []byte{byte(n)}, nil
	case dtUint8:
		n, err := strconv.ParseUint(s, 0, 8)
		if err != nil {
			return nil, fmt.Errorf("not a number (0-255)")
		}
		return []byte{byte(n)}, nil
	case dtMark:
		n, err := strconv.ParseUint(s, 0, 32)
		if err != nil {
			return nil, fmt.Errorf("not a 32-bit mark")
		}
		return binary.NativeEndian.AppendUint32(nil, uint32(n)), nil
	case dtIfIndex:
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
	case dtIfName:
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
	return nil, fmt.Errorf("cannot parse values of this type")
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
		return map[byte]string{2: "ipv4", 10: "ipv6"}[b[0]]
	case dtEthertype:
		return map[uint16]string{0x0800: "ip", 0x86dd: "ip6"}[binary.BigEndian.Uint16(b)]
	}
	return fmt.Sprintf("0x%x", b)
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
}

func (f *Field) String() string { return f.Name }

// Fields of the subset. Offsets are those of the IPv4 (RFC 791 §3.1), IPv6 (RFC 8200 §3),
// TCP (RFC 9293 §3.1) and UDP (RFC 768) headers.
var fields = []*Field{
	{Name: "iif", kind: kindMeta, meta: expr.MetaKeyIIF, dt: dtIfIndex},
	{Name: "oif", kind: kindMeta, meta: expr.MetaKeyOIF, dt: dtIfIndex},
	{Name: "iifname", kind: kindMeta, meta: expr.MetaKeyIIFNAME, dt: dtIfName},
	{Name: "oifname", kind: kindMeta, meta: expr.MetaKeyOIFNAME, dt: dtIfName},
	{Name: "meta l4proto", kind: kindMeta, meta: expr.MetaKeyL4PROTO, dt: dtProto},
	{Name: "meta mark", kind: kindMeta, meta: expr.MetaKeyMARK, dt: dtMark},
	{Name: "ip ttl", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 8, dt: dtUint8, l3: FamilyIP},
	{Name: "ip protocol", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 9, dt: dtProto, l3: FamilyIP},
	{Name: "ip saddr", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 12, dt: dtIPv4, l3: FamilyIP},
	{Name: "ip daddr", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 16, dt: dtIPv4, l3: FamilyIP},
	{Name: "ip6 saddr", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 8, dt: dtIPv6, l3: FamilyIP6},
	{Name: "ip6 daddr", kind: kindPayload, base: expr.PayloadBaseNetworkHeader, offset: 24, dt: dtIPv6, l3: FamilyIP6},
	{Name: "tcp sport", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 0, dt: dtPort, l4: protoTCP},
	{Name: "tcp dport", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 2, dt: dtPort, l4: protoTCP},
	{Name: "udp sport", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 0, dt: dtPort, l4: protoUDP},
	{Name: "udp dport", kind: kindPayload, base: expr.PayloadBaseTransportHeader, offset: 2, dt: dtPort, l4: protoUDP},
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
