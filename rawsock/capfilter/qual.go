package capfilter

// pqual is a protocol qualifier (pcap-filter(7) "proto" qualifier).
type pqual int

const (
	pqNone pqual = iota
	pqLink       // ether, link
	pqIP
	pqIP6
	pqARP
	pqRARP
	pqTCP
	pqUDP
	pqICMP
	pqICMP6
	pqSCTP
	pqIGMP
)

var pqualNames = map[string]pqual{
	"ether": pqLink, "link": pqLink, "ip": pqIP, "ip6": pqIP6, "arp": pqARP, "rarp": pqRARP,
	"tcp": pqTCP, "udp": pqUDP, "icmp": pqICMP, "icmp6": pqICMP6, "sctp": pqSCTP, "igmp": pqIGMP,
}

func (p pqual) String() string {
	for k, v := range pqualNames {
		if v == p && k != "link" {
			return k
		}
	}
	return "(none)"
}

// ipProtocol returns the IP protocol number of a transport qualifier, or 0.
func (p pqual) ipProtocol() uint32 {
	switch p {
	case pqTCP:
		return ipProtoTCP
	case pqUDP:
		return ipProtoUDP
	case pqICMP:
		return ipProtoICMP
	case pqICMP6:
		return ipProtoICMPv6
	case pqSCTP:
		return ipProtoSCTP
	case pqIGMP:
		return ipProtoIGMP
	}
	return 0
}

// etherType returns the EtherType of a network-layer qualifier (ip, ip6, arp, rarp), or
// 0 for the others.
func (p pqual) etherType() uint32 {
	switch p {
	case pqIP:
		return etherTypeIPv4
	case pqIP6:
		return etherTypeIPv6
	case pqARP:
		return etherTypeARP
	case pqRARP:
		return etherTypeRARP
	}
	return 0
}

// dir is a direction qualifier.
type dir int

const (
	dirDefault dir = iota // src or dst
	dirSrc
	dirDst
	dirOr
	dirAnd
)

// aqual is an address-type qualifier.
type aqual int

const (
	aqDefault aqual = iota
	aqHost
	aqNet
	aqPort
	aqPortrange
	aqProto
)

func (a aqual) String() string {
	return [...]string{"(none)", "host", "net", "port", "portrange", "proto"}[a]
}

// qual is the set of qualifiers in force for an id. A bare id after "and"/"or"
// inherits the qualifiers of the term before it (pcap-filter(7): "host a or b").
type qual struct {
	ok    bool // false when the previous term had no qualifiers to inherit
	proto pqual
	dir   dir
	addr  aqual
}

// keywords are the words that are never ids.
var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "host": true, "net": true, "port": true,
	"portrange": true, "src": true, "dst": true, "proto": true, "less": true,
	"greater": true, "len": true, "broadcast": true, "multicast": true, "vlan": true,
	"mask": true, "gateway": true, "inbound": true, "outbound": true,
}

func isKeyword(s string) bool {
	if keywords[s] {
		return true
	}
	_, ok := pqualNames[s]
	return ok
}

// constants are the named values of pcap-filter(7) usable in arithmetic.
var constants = map[string]uint32{
	// TCP header (RFC 9293 §3.1): flags byte 13 and its bits.
	"tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
	// ICMP (RFC 792) type and code offsets and types.
	"icmptype": 0, "icmpcode": 1, "icmp-echoreply": 0, "icmp-unreach": 3,
	"icmp-sourcequench": 4, "icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9,
	"icmp-routersolicit": 10, "icmp-timxceed": 11, "icmp-paramprob": 12, "icmp-tstamp": 13,
	"icmp-tstampreply": 14, "icmp-ireq": 15, "icmp-ireqreply": 16, "icmp-maskreq": 17,
	"icmp-maskreply": 18,
	// ICMPv6 (RFC 4443, RFC 4861) type and code offsets and types.
	"icmp6type": 0, "icmp6code": 1, "icmp6-destinationunreach": 1, "icmp6-packettoobig": 2,
	"icmp6-timeexceeded": 3, "icmp6-parameterproblem": 4, "icmp6-echo": 128,
	"icmp6-echoreply": 129, "icmp6-multicastlistenerquery": 130,
	"icmp6-multicastlistenerreportv1": 131, "icmp6-multicastlistenerdone": 132,
	"icmp6-routersolicit": 133, "icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135,
	"icmp6-neighboradvert": 136, "icmp6-redirect": 137,
}
