package capfilter

import (
	"math/rand"
	"net"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// frame is one corpus entry: an Ethernet frame and what it is.
type frame struct {
	name string
	data []byte
}

var (
	macA  = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	macB  = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	macBC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	ipA   = net.IP{198, 18, 1, 2}
	ipB   = net.IP{198, 19, 2, 2}
	ipC   = net.IP{198, 18, 1, 3}
	ip6A  = net.ParseIP("2001:db8:1::2")
	ip6B  = net.ParseIP("2001:db8:2::2")
)

// serialize builds a frame from layers with correct lengths and checksums.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	type checksummer interface {
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}
	for _, l := range ls {
		c, ok := l.(checksummer)
		if !ok {
			continue
		}
		for _, n := range ls {
			if nl, ok := n.(gopacket.NetworkLayer); ok {
				if err := c.SetNetworkLayerForChecksum(nl); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize %v: %v", ls, err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// rawBytes serializes layers without checksums, for transport headers placed
// behind hand-built IPv6 extension headers.
func rawBytes(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ether(src, dst net.HardwareAddr, et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}
}

func ip4(src, dst net.IP, p layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment, Protocol: p, SrcIP: src, DstIP: dst}
}

func ip6(src, dst net.IP, nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh, SrcIP: src, DstIP: dst}
}

func tcp(sport, dport layers.TCPPort, flags string) *layers.TCP {
	l := &layers.TCP{SrcPort: sport, DstPort: dport, Seq: 3456789, Window: 64240}
	for _, f := range flags {
		switch f {
		case 'S':
			l.SYN = true
		case 'A':
			l.ACK, l.Ack = true, 1
		case 'F':
			l.FIN = true
		case 'R':
			l.RST = true
		case 'P':
			l.PSH = true
		case 'U':
			l.URG = true
		case 'E':
			l.ECE = true
		case 'C':
			l.CWR = true
		}
	}
	return l
}

// hopByHop is an RFC 8200 §4.3 Hop-by-Hop Options header carrying a Router Alert
// (RFC 2711) and padding: 8 bytes.
func hopByHop(next layers.IPProtocol) []byte {
	return []byte{byte(next), 0, 5, 2, 0, 0, 1, 0}
}

// fragHdr is an RFC 8200 §4.5 Fragment header.
func fragHdr(next layers.IPProtocol, offset8 uint16, more bool) []byte {
	v := offset8 << 3
	if more {
		v |= 1
	}
	return []byte{byte(next), 0, byte(v >> 8), byte(v), 0, 0, 0x12, 0x34}
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// baseCorpus returns hand-built frames covering what the filters test.
func baseCorpus(t testing.TB) []frame {
	e4 := func() *layers.Ethernet { return ether(macA, macB, layers.EthernetTypeIPv4) }
	e4r := func() *layers.Ethernet { return ether(macB, macA, layers.EthernetTypeIPv4) }
	e6 := func() *layers.Ethernet { return ether(macA, macB, layers.EthernetTypeIPv6) }
	pay := func(n int) gopacket.Payload {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}
	withOpts := ip4(ipA, ipB, layers.IPProtocolTCP)
	// RFC 791 Record Route with room for 2 addresses, then EOL padding: IHL 8.
	withOpts.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 11, OptionData: []byte{4, 0, 0, 0, 0, 0, 0, 0, 0}}}
	routerAlert := ip4(ipA, net.IP{224, 0, 0, 22}, layers.IPProtocolIGMP)
	routerAlert.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
	frag1 := ip4(ipA, ipB, layers.IPProtocolUDP)
	frag1.Flags = layers.IPv4MoreFragments
	fragN := ip4(ipA, ipB, layers.IPProtocolUDP)
	fragN.FragOffset = 185
	fragNTCP := ip4(ipA, ipB, layers.IPProtocolTCP)
	fragNTCP.FragOffset = 1
	fragNTCP.Flags = layers.IPv4MoreFragments
	bcast := ip4(net.IP{0, 0, 0, 0}, net.IP{255, 255, 255, 255}, layers.IPProtocolUDP)
	mcast := ip4(ipA, net.IP{224, 0, 0, 251}, layers.IPProtocolUDP)
	ttl1 := ip4(ipB, ipA, layers.IPProtocolICMPv4)
	arp := func(op uint16, sha, tha net.HardwareAddr, spa, tpa net.IP) *layers.ARP {
		return &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
			SourceHwAddress: sha, SourceProtAddress: spa, DstHwAddress: tha, DstProtAddress: tpa}
	}
	udp := func(s, d layers.UDPPort) *layers.UDP { return &layers.UDP{SrcPort: s, DstPort: d} }
	icmp4 := func(typ, code uint8) *layers.ICMPv4 {
		return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: 7, Seq: 1}
	}
	icmp6 := func(typ, code uint8) *layers.ICMPv6 {
		return &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	}
	solicited := net.ParseIP("ff02::1:ff00:2")
	fr := []frame{
		{"arp-request", serialize(t, ether(macA, macBC, layers.EthernetTypeARP), arp(1, macA, net.HardwareAddr{0, 0, 0, 0, 0, 0}, ipA, ipC))},
		{"arp-reply", serialize(t, ether(macB, macA, layers.EthernetTypeARP), arp(2, macB, macA, ipC, ipA))},
		{"rarp-request", serialize(t, ether(macA, macBC, layers.EthernetType(0x8035)), arp(3, macA, macA, net.IP{0, 0, 0, 0}, net.IP{0, 0, 0, 0}))},
		{"ipv4-tcp-syn", serialize(t, e4(), ip4(ipA, ipB, layers.IPProtocolTCP), tcp(40000, 80, "S"))},
		{"ipv4-tcp-synack", serialize(t, e4r(), ip4(ipB, ipA, layers.IPProtocolTCP), tcp(80, 40000, "SA"))},
		{"ipv4-tcp-ack", serialize(t, e4(), ip4(ipA, ipB, layers.IPProtocolTCP), tcp(40000, 80, "A"))},
		{"ipv4-tcp-psh-data", serialize(t, e4(), ip4(ipA, ipB, layers.IPProtocolTCP), tcp(40000, 80, "PA"), pay(100))},
		{"ipv4-tcp-fin", serialize(t, e4r(), ip4(ipB, ipA, layers.IPProtocolTCP), tcp(80, 40000, "FA"))},
		{"ipv4-tcp-rst", serialize(t, e4r(), ip4(ipB, ipA, layers.IPProtocolTCP), tcp(80, 40000, "R"))},
		{"ipv4-tcp-urg-ece-cwr", serialize(t, e4(), ip4(ipA, ipC, layers.IPProtocolTCP), tcp(22, 1023, "UECA"))},
		{"ipv4-tcp-443-options", serialize(t, e4(), withOpts, tcp(50000, 443, "S"))},
		{"ipv4-tcp-1500", serialize(t, e4(), ip4(ipA, ipB, layers.IPProtocolTCP), tcp(40000, 8080, "A"), pay(1460))},
		{"ipv4-udp-dns", serialize(t, e4(), ip4(ipA, ipB, layers.IPProtocolUDP), udp(53000, 53), pay(30))},
		{"ipv4-udp-dns-reply", serialize(t, e4r(), ip4(ipB, ipA, layers.IPProtocolUDP), udp(53, 53000), pay(60))},
		{"ipv4-udp-frag-first", serialize(t, e4(), frag1, udp(5000, 80), pay(64))},
		// A later fragment whose payload happens to hold 80 where ports would be.
		{"ipv4-udp-frag-later", serialize(t, e4(), fragN, gopacket.Payload{0, 80, 0, 80, 0, 8, 0, 0, 1, 2, 3, 4})},
		{"ipv4-tcp-frag-later", serialize(t, e4(), fragNTCP, gopacket.Payload{0, 80, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0, 0})},
		{"ipv4-dhcp-broadcast", serialize(t, ether(macA, macBC, layers.EthernetTypeIPv4), bcast, udp(68, 67), pay(240))},
		{"ipv4-mdns-multicast", serialize(t, ether(macA, net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 0xfb}, layers.EthernetTypeIPv4), mcast, udp(5353, 5353), pay(20))},
		{"ipv4-igmp-router-alert", serialize(t, e4(), routerAlert, gopacket.Payload{0x22, 0, 0, 0, 0, 0, 0, 0})},
		{"ipv4-sctp", serialize(t, e4(), ip4(ipA, ipB, layers.IPProtocolSCTP), gopacket.Payload{0x0b, 0x59, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0})},
		{"ipv4-icmp-echo", serialize(t, e4(), ip4(ipA, ipB, layers.IPProtocolICMPv4), icmp4(8, 0), pay(56))},
		{"ipv4-icmp-echoreply", serialize(t, e4r(), ip4(ipB, ipA, layers.IPProtocolICMPv4), icmp4(0, 0), pay(56))},
		{"ipv4-icmp-frag-needed", serialize(t, e4r(), ip4(ipB, ipA, layers.IPProtocolICMPv4), icmp4(3, 4), pay(28))},
		{"ipv4-icmp-time-exceeded", serialize(t, e4r(), ttl1, icmp4(11, 0), pay(28))},
		{"ipv6-tcp-syn", serialize(t, e6(), ip6(ip6A, ip6B, layers.IPProtocolTCP), tcp(40000, 80, "S"))},
		{"ipv6-tcp-synack", serialize(t, ether(macB, macA, layers.EthernetTypeIPv6), ip6(ip6B, ip6A, layers.IPProtocolTCP), tcp(80, 40000, "SA"))},
		{"ipv6-udp-dns", serialize(t, e6(), ip6(ip6A, ip6B, layers.IPProtocolUDP), udp(53000, 53), pay(30))},
		{"ipv6-icmp6-echo", serialize(t, e6(), ip6(ip6A, ip6B, layers.IPProtocolICMPv6), icmp6(128, 0), gopacket.Payload{0, 7, 0, 1})},
		{"ipv6-icmp6-echoreply", serialize(t, ether(macB, macA, layers.EthernetTypeIPv6), ip6(ip6B, ip6A, layers.IPProtocolICMPv6), icmp6(129, 0), gopacket.Payload{0, 7, 0, 1})},
		{"ipv6-icmp6-neighbor-solicit", serialize(t, ether(macA, net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 2}, layers.EthernetTypeIPv6), ip6(ip6A, solicited, layers.IPProtocolICMPv6), icmp6(135, 0), pay(20))},
		{"ipv6-icmp6-packet-too-big", serialize(t, ether(macB, macA, layers.EthernetTypeIPv6), ip6(ip6B, ip6A, layers.IPProtocolICMPv6), icmp6(2, 0), pay(48))},
		{"ipv6-hbh-icmp6-mld", serialize(t, ether(macA, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 0x16}, layers.EthernetTypeIPv6),
			ip6(ip6A, net.ParseIP("ff02::16"), layers.IPProtocolIPv6HopByHop), gopacket.Payload(cat(hopByHop(layers.IPProtocolICMPv6), []byte{143, 0, 0, 0, 0, 0, 0, 0})))},
		{"ipv6-hbh-udp-53", serialize(t, e6(), ip6(ip6A, ip6B, layers.IPProtocolIPv6HopByHop),
			gopacket.Payload(cat(hopByHop(layers.IPProtocolUDP), rawBytes(t, udp(53000, 53), pay(8)))))},
		{"ipv6-frag-first-udp-53", serialize(t, e6(), ip6(ip6A, ip6B, layers.IPProtocolIPv6Fragment),
			gopacket.Payload(cat(fragHdr(layers.IPProtocolUDP, 0, true), rawBytes(t, udp(53000, 53), pay(16)))))},
		{"ipv6-frag-later-udp", serialize(t, e6(), ip6(ip6A, ip6B, layers.IPProtocolIPv6Fragment),
			gopacket.Payload(cat(fragHdr(layers.IPProtocolUDP, 3, false), []byte{0, 53, 0, 53, 1, 2, 3, 4})))},
		{"ipv6-frag-first-tcp-80", serialize(t, e6(), ip6(ip6A, ip6B, layers.IPProtocolIPv6Fragment),
			gopacket.Payload(cat(fragHdr(layers.IPProtocolTCP, 0, true), rawBytes(t, tcp(40000, 80, "S")))))},
		{"ipv6-frag-icmp6", serialize(t, e6(), ip6(ip6A, ip6B, layers.IPProtocolIPv6Fragment),
			gopacket.Payload(cat(fragHdr(layers.IPProtocolICMPv6, 0, true), []byte{128, 0, 0, 0, 0, 7, 0, 1})))},
		{"vlan100-ipv4-tcp", serialize(t, ether(macA, macB, layers.EthernetTypeDot1Q),
			&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, ip4(ipA, ipB, layers.IPProtocolTCP), tcp(40000, 80, "S"))},
		{"vlan200-ipv6-udp", serialize(t, ether(macA, macB, layers.EthernetTypeDot1Q),
			&layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeIPv6}, ip6(ip6A, ip6B, layers.IPProtocolUDP), udp(53000, 53))},
		{"lldp", serialize(t, ether(macA, net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0x0e}, 0x88cc), gopacket.Payload(pay(40)))},
		{"ipv4-tcp-other-hosts", serialize(t, e4(), ip4(net.IP{198, 18, 7, 7}, net.IP{198, 18, 8, 8}, layers.IPProtocolTCP), tcp(1024, 1025, "S"))},
	}
	return fr
}

// corpus returns the base frames plus, from a fixed seed, truncated and
// byte-flipped variants, which exercise out-of-bounds loads: in classic BPF a load
// past the end of the frame rejects it, so the order of loads matters too.
func corpus(t testing.TB) []frame {
	base := baseCorpus(t)
	rng := rand.New(rand.NewSource(1))
	out := append([]frame(nil), base...)
	for _, f := range base {
		for _, n := range []int{0, 6, 13, 14, 15, 20, 24, 30, 34, 36, 38, 40, 42, 50, 54, 56, 58, 62} {
			if n < len(f.data) {
				out = append(out, frame{f.name + "/trunc" + strconv.Itoa(n), f.data[:n]})
			}
		}
		for i := 0; i < 4; i++ {
			d := append([]byte(nil), f.data...)
			k := 14 + rng.Intn(len(d)-14)
			d[k] = byte(rng.Intn(256))
			out = append(out, frame{f.name + "/flip" + strconv.Itoa(k), d})
		}
	}
	return out
}

// rawCorpus strips the link-layer header from each Ethernet frame (18 bytes for a
// VLAN-tagged one) for LinkTypeRaw conformance.
func rawCorpus(fs []frame) []frame {
	var out []frame
	for _, f := range fs {
		if len(f.data) < 14 {
			continue
		}
		h := 14
		if f.data[12] == 0x81 && f.data[13] == 0x00 {
			h = 18
		}
		if len(f.data) < h {
			continue
		}
		out = append(out, frame{f.name, f.data[h:]})
	}
	return out
}
