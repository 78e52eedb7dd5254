package rawsock

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// CraftSpec describes a packet field by field, as the flags of pktlab send and the
// craft step of an experiment file do; both build their packets through it so that a
// field means the same thing in either. Packet lays it out from the IP header on
// (for a raw IP socket), Frame behind an Ethernet header (for a packet socket).
// Lengths and checksums are correct unless Corrupt breaks them.
type CraftSpec struct {
	// Src and Dst are the IP addresses; their family (the same for both) picks
	// IPv4 or IPv6.
	Src, Dst netip.Addr
	// SrcMAC and DstMAC are the Ethernet addresses of Frame (nil: zeros).
	SrcMAC, DstMAC net.HardwareAddr
	// Proto is TCP, UDP, or zero for ICMP (ICMPv4 or ICMPv6 by Dst's family).
	Proto layers.IPProtocol
	// TTL is the IPv4 TTL or the IPv6 hop limit.
	TTL uint8
	// TOS is the IPv4 type of service or the IPv6 traffic class.
	TOS uint8
	// ID is the IPv4 identification (0: the raw socket fills it in, raw(7)).
	// ID, DF and IPOptions exist in IPv4 only; an IPv6 packet goes without them.
	ID uint16
	// DF sets the IPv4 don't-fragment flag.
	DF bool
	// IPOptions are IPv4 options (IPOptNOP, IPOptRouterAlert), padded to 32 bits.
	IPOptions []layers.IPv4Option

	SPort, DPort uint16
	// TCP header fields (RFC 9293 §3.1).
	Seq, Ack                               uint32
	Window, Urgent                         uint16
	SYN, ACK, FIN, RST, PSH, URG, ECE, CWR bool
	TCPOptions                             []layers.TCPOption

	// ICMPType is the ICMP or ICMPv6 type; -1 means an echo request.
	ICMPType        int
	ICMPCode        uint8
	ICMPID, ICMPSeq uint16
	// MTU, when non-zero, makes the ICMPv4 message a fragmentation needed with this
	// next-hop MTU (RFC 1191 §4), whatever ICMPType says.
	MTU uint16

	Payload []byte
	// Corrupt breaks the packet on purpose after lengths and checksums are set.
	Corrupt Corruption
}

// Transport is the IP protocol the spec carries: Proto, or the ICMP of Dst's family.
func (s *CraftSpec) Transport() layers.IPProtocol {
	switch {
	case s.Proto != 0:
		return s.Proto
	case s.Dst.Is6():
		return layers.IPProtocolICMPv6
	}
	return layers.IPProtocolICMPv4
}

// Layers returns the spec's layers from the IP header on, payload last.
func (s *CraftSpec) Layers() ([]gopacket.SerializableLayer, error) {
	if !s.Src.IsValid() || !s.Dst.IsValid() || s.Src.Is4() != s.Dst.Is4() {
		return nil, fmt.Errorf("rawsock: craft: source %v and destination %v must be addresses of one family", s.Src, s.Dst)
	}
	proto := s.Transport()
	var ip gopacket.SerializableLayer
	if s.Dst.Is6() {
		ip = &layers.IPv6{Version: 6, HopLimit: s.TTL, TrafficClass: s.TOS, NextHeader: proto, SrcIP: s.Src.AsSlice(), DstIP: s.Dst.AsSlice()}
	} else {
		v4 := &layers.IPv4{Version: 4, TTL: s.TTL, TOS: s.TOS, Id: s.ID, Protocol: proto, SrcIP: s.Src.AsSlice(), DstIP: s.Dst.AsSlice(), Options: s.IPOptions}
		if s.DF {
			v4.Flags = layers.IPv4DontFragment
		}
		ip = v4
	}
	ls := append([]gopacket.SerializableLayer{ip}, s.transport(proto)...)
	if len(s.Payload) > 0 {
		ls = append(ls, gopacket.Payload(s.Payload))
	}
	return ls, nil
}

// transport builds the TCP, UDP or ICMP header.
func (s *CraftSpec) transport(proto layers.IPProtocol) []gopacket.SerializableLayer {
	switch proto {
	case layers.IPProtocolTCP:
		return []gopacket.SerializableLayer{&layers.TCP{SrcPort: layers.TCPPort(s.SPort), DstPort: layers.TCPPort(s.DPort),
			Seq: s.Seq, Ack: s.Ack, Window: s.Window, Urgent: s.Urgent, Options: s.TCPOptions,
			SYN: s.SYN, ACK: s.ACK, FIN: s.FIN, RST: s.RST, PSH: s.PSH, URG: s.URG, ECE: s.ECE, CWR: s.CWR}}
	case layers.IPProtocolUDP:
		return []gopacket.SerializableLayer{&layers.UDP{SrcPort: layers.UDPPort(s.SPort), DstPort: layers.UDPPort(s.DPort)}}
	case layers.IPProtocolICMPv6:
		typ := uint8(layers.ICMPv6TypeEchoRequest)
		if s.ICMPType >= 0 {
			typ = uint8(s.ICMPType)
		}
		c := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, s.ICMPCode)}
		if typ == layers.ICMPv6TypeEchoRequest || typ == layers.ICMPv6TypeEchoReply {
			return []gopacket.SerializableLayer{c, &layers.ICMPv6Echo{Identifier: s.ICMPID, SeqNumber: s.ICMPSeq}}
		}
		return []gopacket.SerializableLayer{c}
	}
	typ := uint8(layers.ICMPv4TypeEchoRequest)
	if s.ICMPType >= 0 {
		typ = uint8(s.ICMPType)
	}
	c := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, s.ICMPCode), Id: s.ICMPID, Seq: s.ICMPSeq}
	if s.MTU != 0 {
		c = ICMPFragNeeded(s.MTU)
	}
	return []gopacket.SerializableLayer{c}
}

// Packet lays the spec out from the IP header on, for a raw IP socket (which sends
// every byte it is given: raw(7) sets the total length, so no Ethernet padding).
func (s *CraftSpec) Packet() ([]byte, error) {
	ls, err := s.Layers()
	if err != nil {
		return nil, err
	}
	return Serialize(&s.Corrupt, ls...)
}

// Frame lays the spec out behind an Ethernet header from SrcMAC to DstMAC, for a
// packet socket.
func (s *CraftSpec) Frame() ([]byte, error) {
	ls, err := s.Layers()
	if err != nil {
		return nil, err
	}
	eth := &layers.Ethernet{SrcMAC: s.SrcMAC, DstMAC: s.DstMAC, EthernetType: layers.EthernetTypeIPv4}
	if s.Dst.Is6() {
		eth.EthernetType = layers.EthernetTypeIPv6
	}
	if eth.SrcMAC == nil {
		eth.SrcMAC = make(net.HardwareAddr, 6)
	}
	if eth.DstMAC == nil {
		eth.DstMAC = make(net.HardwareAddr, 6)
	}
	return Serialize(&s.Corrupt, append([]gopacket.SerializableLayer{eth}, ls...)...)
}

// TCPOptionSet is the TCP options pktlab send and craft steps name, in the order
// Options lays them out (Linux's own order for mss, sackOK and TS; SACK and window
// scale behind NOPs that align them to 32 bits, as Linux sends them).
type TCPOptionSet struct {
	MSS    uint16 // 0: none
	SACKOK bool
	// TS holds timestamps VAL and ECR when HasTS.
	HasTS bool
	TS    [2]uint32
	// SACK holds left, right edge pairs.
	SACK   []uint32
	WScale int // shift count; -1: none
	Extra  []layers.TCPOption
}

// Options lays the set out.
func (o *TCPOptionSet) Options() []layers.TCPOption {
	var opts []layers.TCPOption
	if o.MSS != 0 {
		opts = append(opts, OptMSS(o.MSS))
	}
	if o.SACKOK {
		opts = append(opts, OptSACKPermitted())
	}
	if o.HasTS {
		opts = append(opts, OptTimestamps(o.TS[0], o.TS[1]))
	}
	if len(o.SACK) > 0 {
		opts = append(opts, OptNOP(), OptNOP(), OptSACK(o.SACK...))
	}
	if o.WScale >= 0 {
		opts = append(opts, OptNOP(), OptWScale(uint8(o.WScale)))
	}
	return append(opts, o.Extra...)
}
