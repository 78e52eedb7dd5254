package header

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
)

// ARPOp is an ARP operation code (RFC 826, IANA arp-parameters).
type ARPOp uint16

// ARP operations.
const (
	ARPRequest ARPOp = 1
	ARPReply   ARPOp = 2
)

func (o ARPOp) String() string {
	switch o {
	case ARPRequest:
		return "request"
	case ARPReply:
		return "reply"
	}
	return "op-" + strconv.Itoa(int(o))
}

// ARP is an ARP packet (RFC 826): hardware and protocol types and address sizes,
// operation, then sender and target addresses of those sizes.
type ARP []byte

// ARPMinLen is the length of the fixed part before the addresses.
const ARPMinLen = 8

var (
	errARPShort = truncated("ARP", "header shorter than 8 bytes")
	errARPAddrs = truncated("ARP", "addresses cut short")
)

// ParseARP returns a view of the ARP packet at the start of b, addresses included.
func ParseARP(b []byte) (ARP, error) {
	if len(b) < ARPMinLen {
		return nil, errARPShort
	}
	if len(b) < ARPMinLen+2*int(b[4])+2*int(b[5]) {
		return nil, errARPAddrs
	}
	return ARP(b), nil
}

// HardwareType is the hardware address space (1 for Ethernet).
func (a ARP) HardwareType() uint16 { return binary.BigEndian.Uint16(a[0:2]) }

// ProtocolType is the protocol address space, an EtherType.
func (a ARP) ProtocolType() EtherType { return EtherType(binary.BigEndian.Uint16(a[2:4])) }

// HardwareLen is the length of a hardware address.
func (a ARP) HardwareLen() int { return int(a[4]) }

// ProtocolLen is the length of a protocol address.
func (a ARP) ProtocolLen() int { return int(a[5]) }

// Op is the operation.
func (a ARP) Op() ARPOp { return ARPOp(binary.BigEndian.Uint16(a[6:8])) }

// SenderHW is the sender hardware address.
func (a ARP) SenderHW() net.HardwareAddr {
	h := a.HardwareLen()
	return net.HardwareAddr(a[8 : 8+h : 8+h])
}

// SenderProto is the sender protocol address, as the packet holds it.
func (a ARP) SenderProto() []byte {
	h, p := a.HardwareLen(), a.ProtocolLen()
	return a[8+h : 8+h+p : 8+h+p]
}

// TargetHW is the target hardware address.
func (a ARP) TargetHW() net.HardwareAddr {
	h, p := a.HardwareLen(), a.ProtocolLen()
	return net.HardwareAddr(a[8+h+p : 8+2*h+p : 8+2*h+p])
}

// TargetProto is the target protocol address, as the packet holds it.
func (a ARP) TargetProto() []byte {
	h, p := a.HardwareLen(), a.ProtocolLen()
	return a[8+2*h+p : 8+2*h+2*p : 8+2*h+2*p]
}

// SenderIP and TargetIP are the protocol addresses as IP addresses, invalid when
// they are not 4 or 16 bytes long.
func (a ARP) SenderIP() netip.Addr { ip, _ := netip.AddrFromSlice(a.SenderProto()); return ip }

// TargetIP is the target protocol address as an IP address.
func (a ARP) TargetIP() netip.Addr { ip, _ := netip.AddrFromSlice(a.TargetProto()); return ip }

// Len is the length of the packet, addresses included.
func (a ARP) Len() int { return ARPMinLen + 2*a.HardwareLen() + 2*a.ProtocolLen() }

// Payload is what follows the addresses (an Ethernet frame's padding).
func (a ARP) Payload() []byte { return a[a.Len():] }
