package filter

import (
	"fmt"
	"math"

	"github.com/google/nftables"
	"github.com/pktlab/pktlab/internal/enumname"
	"golang.org/x/sys/unix"
)

// Family is an nftables table family (nft(8) "ADDRESS FAMILIES").
type Family uint8

// Table families of the subset. Values are the NFPROTO_* numbers the kernel uses.
const (
	FamilyIP     Family = unix.NFPROTO_IPV4
	FamilyIP6    Family = unix.NFPROTO_IPV6
	FamilyINet   Family = unix.NFPROTO_INET
	FamilyNetdev Family = unix.NFPROTO_NETDEV
)

// Families outside the subset, named only to list what nft put in a node.
const (
	familyARP    Family = unix.NFPROTO_ARP
	familyBridge Family = unix.NFPROTO_BRIDGE
)

var familyNames = [...]string{
	FamilyIP: "ip", FamilyIP6: "ip6", FamilyINet: "inet", FamilyNetdev: "netdev", familyARP: "arp", familyBridge: "bridge",
}

func (f Family) String() string { return enumname.Name(f, familyNames[:], "family(%d)") }

// subsetFamily reports the table families whose rules and base chains pktlab speaks.
func subsetFamily(f Family) bool {
	return f == FamilyIP || f == FamilyIP6 || f == FamilyINet || f == FamilyNetdev
}

func parseFamily(s string) (Family, bool) {
	f, ok := enumname.Parse[Family](familyNames[:], s)
	return f, ok && subsetFamily(f)
}

// Hook is a netfilter hook (nft(8) "CHAINS"). Values are NF_INET_* / NF_NETDEV_*.
type Hook uint32

// Hooks of the subset. HookIngress shares its number with HookPrerouting in the kernel
// (NF_NETDEV_INGRESS = 0); which one is meant follows from the table family.
const (
	HookPrerouting  Hook = unix.NF_INET_PRE_ROUTING
	HookInput       Hook = unix.NF_INET_LOCAL_IN
	HookForward     Hook = unix.NF_INET_FORWARD
	HookOutput      Hook = unix.NF_INET_LOCAL_OUT
	HookPostrouting Hook = unix.NF_INET_POST_ROUTING
	HookIngress     Hook = unix.NF_NETDEV_INGRESS
)

var inetHookNames = []string{"prerouting", "input", "forward", "output", "postrouting"}

// hookName returns nft's name for hook h in family f.
func hookName(f Family, h Hook) string {
	if f == FamilyNetdev {
		if h == HookIngress {
			return "ingress"
		}
		return fmt.Sprintf("hook(%d)", uint32(h))
	}
	return enumname.Name(h, inetHookNames, "hook(%d)")
}

func parseHook(f Family, s string) (Hook, bool) {
	if f == FamilyNetdev {
		return HookIngress, s == "ingress"
	}
	return enumname.Parse[Hook](inetHookNames, s)
}

// ChainType is a base chain type (nft(8) "CHAINS": filter, nat, route).
type ChainType string

// Base chain types of the subset.
const (
	ChainTypeFilter ChainType = "filter"
	ChainTypeNAT    ChainType = "nat"
	ChainTypeRoute  ChainType = "route"
)

// Policy is a base chain's verdict for packets that reach its end.
type Policy uint32

// Policies, with the kernel's NF_DROP / NF_ACCEPT values.
const (
	PolicyDrop   Policy = Policy(nftables.ChainPolicyDrop)
	PolicyAccept Policy = Policy(nftables.ChainPolicyAccept)
)

func (p Policy) String() string {
	if p == PolicyDrop {
		return "drop"
	}
	return "accept"
}

// Standard priorities, from nft's src/rule.c std_prios (values of
// include/uapi/linux/netfilter_ipv4.h NF_IP_PRI_*).
var stdPrios = []struct {
	name string
	val  int32
}{
	{"raw", -300}, {"mangle", -150}, {"dstnat", -100}, {"filter", 0}, {"security", 50}, {"srcnat", 100},
}

// stdPrioCompat mirrors nft's std_prio_family_hook_compat: which named priorities are
// valid for a family and hook.
func stdPrioCompat(prio int32, f Family, h Hook) bool {
	switch prio {
	case 0:
		return true
	case -300, -150, 50:
		return f != FamilyNetdev
	case -100:
		// nft 1.0.6 (Debian 12) accepts and prints dstnat only on prerouting and
		// srcnat only on postrouting; newer nft also allows output / input.
		return f != FamilyNetdev && h == HookPrerouting
	case 100:
		return f != FamilyNetdev && h == HookPostrouting
	}
	return false
}

// priorityString renders a priority as nft's prio2str does: the standard name within
// ±10 when valid for the hook, otherwise the number.
func priorityString(f Family, h Hook, prio int32) string {
	for _, sp := range stdPrios {
		off := int64(prio) - int64(sp.val)
		if off < -10 || off > 10 {
			continue
		}
		if !stdPrioCompat(sp.val, f, h) {
			break
		}
		switch {
		case off > 0:
			return fmt.Sprintf("%s + %d", sp.name, off)
		case off < 0:
			return fmt.Sprintf("%s - %d", sp.name, -off)
		}
		return sp.name
	}
	return fmt.Sprint(prio)
}

func stdPriority(name string, f Family, h Hook) (int32, bool) {
	for _, sp := range stdPrios {
		if sp.name == name && stdPrioCompat(sp.val, f, h) {
			return sp.val, true
		}
	}
	return 0, false
}

// CtState is the conntrack state bitmask of `ct state` (NF_CT_STATE_BIT, kernel
// include/uapi/linux/netfilter/nf_conntrack_common.h).
type CtState uint32

// Conntrack states in the order nft prints them (bit order).
const (
	CtStateInvalid     CtState = 1
	CtStateEstablished CtState = 2
	CtStateRelated     CtState = 4
	CtStateNew         CtState = 8
	CtStateUntracked   CtState = 64
)

var ctStateNames = []struct {
	bit  CtState
	name string
}{
	{CtStateInvalid, "invalid"}, {CtStateEstablished, "established"}, {CtStateRelated, "related"},
	{CtStateNew, "new"}, {CtStateUntracked, "untracked"},
}

func (s CtState) String() string { return bitNames(uint64(s), ctStateBits()) }

func ctStateBits() []bitName {
	out := make([]bitName, len(ctStateNames))
	for i, n := range ctStateNames {
		out[i] = bitName{uint64(n.bit), n.name}
	}
	return out
}

type bitName struct {
	bit  uint64
	name string
}

func bitNames(v uint64, names []bitName) string {
	s := ""
	for _, n := range names {
		if v&n.bit != 0 {
			if s != "" {
				s += ","
			}
			s += n.name
			v &^= n.bit
		}
	}
	if v != 0 || s == "" {
		if s != "" {
			s += ","
		}
		s += fmt.Sprintf("0x%x", v)
	}
	return s
}

func lookupBit(names []bitName, s string) (uint64, bool) {
	for _, n := range names {
		if n.name == s {
			return n.bit, true
		}
	}
	return 0, false
}

// Protocol numbers nft prints by name (nft uses getprotobynumber; these are the
// /etc/protocols names of the Debian netbase package).
var protoNames = map[uint8]string{
	1: "icmp", 2: "igmp", 4: "ipencap", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp",
	51: "ah", 58: "ipv6-icmp", 103: "pim", 132: "sctp", 136: "udplite",
}

// The transport protocols whose ports (tcp, udp) or header fields (icmp, icmpv6) the
// subset matches.
const (
	protoTCP    uint8 = unix.IPPROTO_TCP
	protoUDP    uint8 = unix.IPPROTO_UDP
	protoICMP   uint8 = unix.IPPROTO_ICMP
	protoICMPv6 uint8 = unix.IPPROTO_ICMPV6
)

// icmpFamily is the network protocol an ICMP flavour belongs to: nft adds `meta nfproto`
// (inet) or `meta protocol` (netdev) for it when it inserts the `meta l4proto`
// dependency of an icmp/icmpv6 match (checked with nft --debug=netlink, nft 1.0.6).
func icmpFamily(proto uint8) Family {
	switch proto {
	case protoICMP:
		return FamilyIP
	case protoICMPv6:
		return FamilyIP6
	}
	return 0
}

// ICMP message types nft names (nft's src/proto.c icmp_type_tbl; RFC 792, RFC 950,
// RFC 1256). nft prints any other type as a number.
var icmpTypeNames = map[uint8]string{
	0: "echo-reply", 3: "destination-unreachable", 4: "source-quench", 5: "redirect", 8: "echo-request",
	9: "router-advertisement", 10: "router-solicitation", 11: "time-exceeded", 12: "parameter-problem",
	13: "timestamp-request", 14: "timestamp-reply", 15: "info-request", 16: "info-reply",
	17: "address-mask-request", 18: "address-mask-reply",
}

// ICMPv6 message types nft names (nft's src/proto.c icmp6_type_tbl; RFC 4443, RFC 2710,
// RFC 4861, RFC 2894, RFC 3122, RFC 3810). mld-listener-reduction is an input alias of
// mld-listener-done.
var icmp6TypeNames = map[uint8]string{
	1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded", 4: "parameter-problem",
	128: "echo-request", 129: "echo-reply", 130: "mld-listener-query", 131: "mld-listener-report",
	132: "mld-listener-done", 133: "nd-router-solicit", 134: "nd-router-advert", 135: "nd-neighbor-solicit",
	136: "nd-neighbor-advert", 137: "nd-redirect", 138: "router-renumbering", 141: "ind-neighbor-solicit",
	142: "ind-neighbor-advert", 143: "mld2-listener-report",
}

var icmp6TypeAliases = map[string]uint8{"mld-listener-reduction": 132}

// Echo types: `icmp id` and `icmp sequence` exist only in echo messages (RFC 792 "Echo
// or Echo Reply Message", RFC 4443 §4.1/§4.2), and nft makes them depend on the type.
const (
	icmpEchoReply    uint8 = 0
	icmpEchoRequest  uint8 = 8
	icmp6EchoRequest uint8 = 128
	icmp6EchoReply   uint8 = 129
)

// isEcho reports whether type t of ICMP flavour proto is an echo request or reply.
func isEcho(proto, t uint8) bool {
	if proto == protoICMPv6 {
		return t == icmp6EchoRequest || t == icmp6EchoReply
	}
	return t == icmpEchoReply || t == icmpEchoRequest
}

// Reject types (NFT_REJECT_*, include/uapi/linux/netfilter/nf_tables.h).
const (
	rejectICMPUnreach = unix.NFT_REJECT_ICMP_UNREACH
	rejectTCPReset    = unix.NFT_REJECT_TCP_RST
	rejectICMPX       = unix.NFT_REJECT_ICMPX_UNREACH
)

// ICMP destination-unreachable codes nft names (RFC 792, RFC 1812 §5.2.7.1), in `icmp
// code` matches and `reject with icmp`: nft's src/datatype.c icmp_code_tbl.
var icmpCodeNames = map[uint8]string{0: "net-unreachable", 1: "host-unreachable", 2: "prot-unreachable",
	3: "port-unreachable", 4: "frag-needed", 9: "net-prohibited", 10: "host-prohibited", 13: "admin-prohibited"}

// ICMPv6 destination-unreachable codes (RFC 4443 §3.1).
var icmp6CodeNames = map[uint8]string{0: "no-route", 1: "admin-prohibited", 3: "addr-unreachable",
	4: "port-unreachable", 5: "policy-fail", 6: "reject-route"}

// Abstract ICMP codes of `reject with icmpx` (NFT_REJECT_ICMPX_*).
var icmpxCodeNames = map[uint8]string{0: "no-route", 1: "port-unreachable", 2: "host-unreachable", 3: "admin-prohibited"}

func lookupCode(m map[uint8]string, s string) (uint8, bool) {
	for k, v := range m {
		if v == s {
			return k, true
		}
	}
	return 0, false
}

// Numgen modes (NFT_NG_*).
const (
	NumgenInc    = unix.NFT_NG_INCREMENTAL
	NumgenRandom = unix.NFT_NG_RANDOM
)

const maxPrio = math.MaxInt32

// HookName returns nft's name for the chain's hook in a table of family f.
func (b *BaseChain) HookName(f Family) string { return hookName(f, b.Hook) }

// MarshalText makes a Family print as its nft name in JSON.
func (f Family) MarshalText() ([]byte, error) { return []byte(f.String()), nil }
