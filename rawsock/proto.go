package rawsock

import (
	"encoding/binary"
	"fmt"

	"github.com/pktlab/pktlab/internal/enumname"
)

// Protocol is an EtherType as a packet socket takes it (linux/if_ether.h), in host
// byte order. Network converts it for the kernel.
type Protocol uint16

// Protocols a packet socket can select (linux/if_ether.h). Any other EtherType may be
// given as a number.
const (
	ProtoAll  Protocol = 0x0003 // ETH_P_ALL: every frame, both directions
	ProtoIPv4 Protocol = 0x0800 // ETH_P_IP
	ProtoARP  Protocol = 0x0806 // ETH_P_ARP
	ProtoIPv6 Protocol = 0x86DD // ETH_P_IPV6
)

var protocolNames = map[Protocol]string{ProtoAll: "all", ProtoIPv4: "ip", ProtoARP: "arp", ProtoIPv6: "ip6"}

func (p Protocol) String() string { return enumname.Lookup(p, protocolNames, "0x%04x") }

// ParseProtocol accepts all, ip, arp, ip6 (or ipv4/ipv6) and numbers such as 0x88cc.
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "", "all":
		return ProtoAll, nil
	case "ip", "ipv4":
		return ProtoIPv4, nil
	case "arp":
		return ProtoARP, nil
	case "ip6", "ipv6":
		return ProtoIPv6, nil
	}
	var v uint64
	if _, err := fmt.Sscan(s, &v); err != nil || v > 0xffff {
		return 0, fmt.Errorf("rawsock: protocol %q: want all, ip, arp, ip6 or an EtherType number such as 0x88cc", s)
	}
	return Protocol(v), nil
}

// Network returns the protocol as packet(7) wants it in socket(2) and in
// sockaddr_ll.sll_protocol: in network byte order, read as a host integer. On a
// little-endian host ETH_P_ALL (3) becomes 768 (htons(0x0003)); passing 3 instead
// selects EtherType 0x0300, which no frame carries, and the socket stays silent
// (experiment A4).
func (p Protocol) Network() uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], uint16(p))
	return binary.NativeEndian.Uint16(b[:])
}
