package header

import (
	"encoding/binary"
	"net"
	"strconv"
)

// EtherType is the protocol an Ethernet frame carries (IEEE 802.3 §3.2.6, IANA
// ieee-802-numbers). Values below 0x0600 are an 802.3 length instead.
type EtherType uint16

// EtherTypes pktlab decodes or names (linux/if_ether.h).
const (
	EtherTypeIPv4  EtherType = 0x0800 // ETH_P_IP
	EtherTypeARP   EtherType = 0x0806 // ETH_P_ARP
	EtherTypeVLAN  EtherType = 0x8100 // ETH_P_8021Q
	EtherTypeIPv6  EtherType = 0x86DD // ETH_P_IPV6
	EtherTypeQinQ  EtherType = 0x88A8 // ETH_P_8021AD
	EtherTypeLLDP  EtherType = 0x88CC // ETH_P_LLDP
	EtherTypeMinII EtherType = 0x0600 // the least EtherType; below it, an 802.3 length
)

func (t EtherType) String() string {
	switch t {
	case EtherTypeIPv4:
		return "IPv4"
	case EtherTypeARP:
		return "ARP"
	case EtherTypeVLAN:
		return "802.1Q"
	case EtherTypeIPv6:
		return "IPv6"
	case EtherTypeQinQ:
		return "802.1ad"
	case EtherTypeLLDP:
		return "LLDP"
	}
	return "0x" + hex4(uint16(t))
}

func hex4(v uint16) string {
	s := strconv.FormatUint(uint64(v), 16)
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

// Ethernet is an Ethernet II header and what follows it (IEEE 802.3 §3.1.1):
// destination, source, EtherType.
type Ethernet []byte

// EthernetLen is the length of an Ethernet II header.
const EthernetLen = 14

var errEthernetShort = truncated("Ethernet", "header shorter than 14 bytes")

// ParseEthernet returns a view of the Ethernet header at the start of b.
func ParseEthernet(b []byte) (Ethernet, error) {
	if len(b) < EthernetLen {
		return nil, errEthernetShort
	}
	return Ethernet(b), nil
}

// Dst is the destination address.
func (e Ethernet) Dst() net.HardwareAddr { return net.HardwareAddr(e[0:6:6]) }

// Src is the source address.
func (e Ethernet) Src() net.HardwareAddr { return net.HardwareAddr(e[6:12:12]) }

// Type is the EtherType field; below EtherTypeMinII it is an 802.3 length.
func (e Ethernet) Type() EtherType { return EtherType(binary.BigEndian.Uint16(e[12:14])) }

// Payload is what follows the header.
func (e Ethernet) Payload() []byte { return e[EthernetLen:] }

// SLL is the Linux cooked-capture header (pcap LINKTYPE_LINUX_SLL, 16 bytes) that
// a SOCK_DGRAM packet socket's captures carry instead of Ethernet.
type SLL []byte

// SLLLen is the length of a Linux cooked-capture header.
const SLLLen = 16

var (
	errSLLShort   = truncated("Linux SLL", "header shorter than 16 bytes")
	errSLLAddrLen = malformed("Linux SLL", "address length above 8")
)

// ParseSLL returns a view of the cooked-capture header at the start of b.
func ParseSLL(b []byte) (SLL, error) {
	if len(b) < SLLLen {
		return nil, errSLLShort
	}
	if binary.BigEndian.Uint16(b[4:6]) > 8 {
		return nil, errSLLAddrLen
	}
	return SLL(b), nil
}

// PacketType is the sll_pkttype: 0 to us, 1 broadcast, 2 multicast, 3 to another
// host, 4 sent by us (packet(7)).
func (s SLL) PacketType() uint16 { return binary.BigEndian.Uint16(s[0:2]) }

// AddrType is the ARPHRD_ type of the link (1 for Ethernet).
func (s SLL) AddrType() uint16 { return binary.BigEndian.Uint16(s[2:4]) }

// AddrLen is the length of the link-layer address.
func (s SLL) AddrLen() int { return int(binary.BigEndian.Uint16(s[4:6])) }

// Addr is the source link-layer address: AddrLen (at most 8) bytes.
func (s SLL) Addr() net.HardwareAddr { return net.HardwareAddr(s[6 : 6+s.AddrLen()]) }

// Type is the protocol, an EtherType.
func (s SLL) Type() EtherType { return EtherType(binary.BigEndian.Uint16(s[14:16])) }

// Payload is what follows the header.
func (s SLL) Payload() []byte { return s[SLLLen:] }
