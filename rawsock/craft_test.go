package rawsock_test

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/header"
)

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	c4   = netip.MustParseAddr("198.18.1.2")
	s4   = netip.MustParseAddr("198.19.2.2")
	c6   = netip.MustParseAddr("2001:db8:1::2")
	s6   = netip.MustParseAddr("2001:db8:2::2")
)

func eth(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
}

func mkIPv4(p layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: c4.AsSlice(), DstIP: s4.AsSlice(), Id: 7}
}

func mkIPv6(p layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p, SrcIP: c6.AsSlice(), DstIP: s6.AsSlice()}
}

// fields is what the round-trip test compares after decoding.
type fields struct {
	Layers  string
	TTL     uint8
	IPOpts  int
	Flags   string
	Options []string
	MTU     uint16
	Payload string
	HBH     bool
	Frag    bool
}

func extract(d *rawsock.Decoder) fields {
	var f fields
	for _, l := range d.Layers() {
		f.Layers += l.String() + "/"
	}
	if d.Has(layers.LayerTypeIPv4) {
		f.TTL = d.IPv4().TTL()
		for o := d.IPv4().Options(); len(o) > 0; { // RFC 791 §3.1; ParseIPv4 checked the lengths
			f.IPOpts++
			if o[0] == 0 {
				break
			}
			n := 1
			if o[0] > 1 {
				n = int(o[1])
			}
			o = o[n:]
		}
	}
	if d.Has(layers.LayerTypeIPv6) {
		f.TTL, f.HBH = d.IPv6().HopLimit(), d.HopByHop() != nil
	}
	if d.Has(layers.LayerTypeTCP) {
		t := d.TCP()
		for _, b := range []struct {
			bit header.TCPFlags
			s   string
		}{{header.TCPFlagFIN, "F"}, {header.TCPFlagSYN, "S"}, {header.TCPFlagRST, "R"}, {header.TCPFlagPSH, "P"},
			{header.TCPFlagACK, "A"}, {header.TCPFlagURG, "U"}, {header.TCPFlagECE, "E"}, {header.TCPFlagCWR, "W"}} {
			if t.Flags().Has(b.bit) {
				f.Flags += b.s
			}
		}
		for it := t.Options(); it.Next(); {
			o := it.Option()
			l := uint8(1)
			if o.Kind > header.TCPOptionNOP {
				l = uint8(len(o.Data) + 2)
			}
			f.Options = append(f.Options, layers.TCPOption{OptionType: layers.TCPOptionKind(o.Kind), OptionLength: l, OptionData: o.Data}.String())
		}
	}
	if d.Has(layers.LayerTypeICMPv4) {
		f.MTU = d.ICMPv4().MTU()
	}
	if d.Has(gopacket.LayerTypePayload) {
		f.Payload = string(d.Payload())
	}
	f.Frag = d.Fragment
	return f
}

// TestCraftRoundTrip crafts a frame of every kind, decodes it and compares fields.
func TestCraftRoundTrip(t *testing.T) {
	all := &layers.TCP{SrcPort: 1, DstPort: 2, FIN: true, SYN: true, RST: true, PSH: true, ACK: true, URG: true, ECE: true, CWR: true,
		Options: []layers.TCPOption{rawsock.OptMSS(1460), rawsock.OptSACKPermitted(), rawsock.OptTimestamps(1, 2), rawsock.OptNOP(), rawsock.OptWScale(7),
			rawsock.OptSACK(10, 20), rawsock.OptUnknown(99, []byte{1}), rawsock.OptEOL()}}
	hbh := mkIPv6(layers.IPProtocolICMPv6)
	hbh.HopByHop = rawsock.HopByHopRouterAlert(0, layers.IPProtocolICMPv6)
	ip4opt := mkIPv4(layers.IPProtocolUDP)
	ip4opt.Options = []layers.IPv4Option{rawsock.IPOptRouterAlert()}
	tests := []struct {
		name string
		ls   []gopacket.SerializableLayer
		want fields
	}{
		{"arp", []gopacket.SerializableLayer{eth(layers.EthernetTypeARP), &layers.ARP{AddrType: 1, Protocol: 0x0800, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: macA, SourceProtAddress: c4.AsSlice(), DstHwAddress: make([]byte, 6), DstProtAddress: s4.AsSlice()}},
			fields{Layers: "Ethernet/ARP/Payload/", Payload: string(make([]byte, 18))}}, // Ethernet padding to 60 bytes
		{"tcp every flag and option", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), mkIPv4(layers.IPProtocolTCP), all, gopacket.Payload("x")},
			fields{Layers: "Ethernet/IPv4/TCP/Payload/", TTL: 64, Flags: "FSRPAUEW", Payload: "x",
				Options: []string{"TCPOption(MSS:1460 0x05b4)", "TCPOption(SACKPermitted:)", "TCPOption(Timestamps:1/2 0x0000000100000002)", "TCPOption(NOP:)",
					"TCPOption(WindowScale: 0x07)", "TCPOption(SACK: 0x0000000a00000014)", "TCPOption(Unknown(99): 0x01)", "TCPOption(EndList:)"}}},
		{"ipv4 options udp", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4opt, &layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("u")},
			fields{Layers: "Ethernet/IPv4/UDP/Payload/", TTL: 64, IPOpts: 1, Payload: "u"}},
		{"icmp echo", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), mkIPv4(layers.IPProtocolICMPv4), rawsock.ICMPEcho(false, 1, 2), gopacket.Payload("p")},
			fields{Layers: "Ethernet/IPv4/ICMPv4/Payload/", TTL: 64, MTU: 2, Payload: "p"}},
		{"icmp frag needed", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), mkIPv4(layers.IPProtocolICMPv4), rawsock.ICMPFragNeeded(1280), gopacket.Payload("q")},
			fields{Layers: "Ethernet/IPv4/ICMPv4/Payload/", TTL: 64, MTU: 1280, Payload: "q"}},
		{"icmp time exceeded", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), mkIPv4(layers.IPProtocolICMPv4), rawsock.ICMPTimeExceeded(), gopacket.Payload("q")},
			fields{Layers: "Ethernet/IPv4/ICMPv4/Payload/", TTL: 64, Payload: "q"}},
		{"ipv6 hop-by-hop icmpv6", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), hbh, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, gopacket.Payload("abcd")},
			fields{Layers: "Ethernet/IPv6/ICMPv6/", TTL: 64, HBH: true}},
		{"ipv6 fragment", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), mkIPv6(layers.IPProtocolIPv6Fragment), &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, MoreFragments: true, Identification: 9}, gopacket.Payload("12345678abc")},
			fields{Layers: "Ethernet/IPv6/IPv6Fragment/", TTL: 64, Frag: true}},
	}
	d := rawsock.NewDecoder(layers.LinkTypeEthernet)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := rawsock.Serialize(nil, tt.ls...)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Decode(b); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, extract(d)); diff != "" {
				t.Errorf("decoded fields (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCorruption checks each deliberate breakage on the wire bytes and that the
// decoder reports malformed headers instead of accepting them.
func TestCorruption(t *testing.T) {
	syn := func() []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), mkIPv4(layers.IPProtocolTCP), &layers.TCP{SYN: true, Options: []layers.TCPOption{rawsock.OptMSS(1460)}}}
	}
	udp := func() []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), mkIPv4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("data")}
	}
	good, _ := rawsock.Serialize(nil, syn()...)
	goodUDP, _ := rawsock.Serialize(nil, udp()...)
	be := binary.BigEndian
	tests := []struct {
		name      string
		c         rawsock.Corruption
		ls        []gopacket.SerializableLayer
		check     func(b []byte) string // "" if the field is broken as asked
		decodeErr bool
	}{
		{"bad tcp checksum", rawsock.Corruption{BadChecksum: true}, syn(), func(b []byte) string {
			if be.Uint16(b[50:]) != ^be.Uint16(good[50:]) {
				return "tcp checksum not inverted"
			}
			return ""
		}, false},
		{"bad ip checksum", rawsock.Corruption{BadIPChecksum: true}, syn(), func(b []byte) string {
			if be.Uint16(b[24:]) != ^be.Uint16(good[24:]) {
				return "ip checksum not inverted"
			}
			return ""
		}, false},
		{"ip length too long", rawsock.Corruption{IPLength: 1000}, syn(), func(b []byte) string {
			if be.Uint16(b[16:]) != 1000 {
				return "total length not 1000"
			}
			return ""
		}, true},
		{"udp length", rawsock.Corruption{UDPLength: 3, BadChecksum: true}, udp(), func(b []byte) string {
			if be.Uint16(b[38:]) != 3 || be.Uint16(b[40:]) == be.Uint16(goodUDP[40:]) || l4ChecksumOK(b) {
				return "udp length/checksum not broken"
			}
			return ""
		}, true},
		{"bad data offset", rawsock.Corruption{TCPDataOffset: 15}, syn(), func(b []byte) string {
			if b[46]>>4 != 15 {
				return "data offset not 15"
			}
			if !l4ChecksumOK(b) {
				return "checksum not kept right for the broken data offset"
			}
			return ""
		}, true},
		{"truncated option", rawsock.Corruption{TruncateTCPOption: true}, syn(), func(b []byte) string {
			if b[55] != 6 {
				return "mss length byte not 6"
			}
			if !l4ChecksumOK(b) {
				return "checksum not kept right for the truncated option"
			}
			return ""
		}, true},
	}
	d := rawsock.NewDecoder(layers.LinkTypeEthernet)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := rawsock.Serialize(&tt.c, tt.ls...)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(b); msg != "" {
				t.Errorf("%s: % x", msg, b)
			}
			if err := d.Decode(b); (err != nil) != tt.decodeErr {
				t.Errorf("Decode = %v, want error %v", err, tt.decodeErr)
			}
		})
	}
}

// l4ChecksumOK reports whether the TCP or UDP checksum of an Ethernet + IPv4 frame
// (no IP options) verifies over the pseudo-header with the segment's real length.
func l4ChecksumOK(b []byte) bool {
	ip := b[14:]
	seg := ip[20 : int(ip[2])<<8|int(ip[3])] // without Ethernet padding
	var sum uint32
	add := func(p []byte) {
		for i := 0; i+1 < len(p); i += 2 {
			sum += uint32(p[i])<<8 | uint32(p[i+1])
		}
		if len(p)%2 == 1 {
			sum += uint32(p[len(p)-1]) << 8
		}
	}
	add(ip[12:20])
	sum += uint32(ip[9]) + uint32(len(seg))
	add(seg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

// TestDecodeTruncated cuts a SYN at every length: Decode must fail, never panic.
func TestDecodeTruncated(t *testing.T) {
	b, err := rawsock.Serialize(nil, eth(layers.EthernetTypeIPv4), mkIPv4(layers.IPProtocolTCP), &layers.TCP{SYN: true, Options: []layers.TCPOption{rawsock.OptMSS(1460)}})
	if err != nil {
		t.Fatal(err)
	}
	d := rawsock.NewDecoder(layers.LinkTypeEthernet)
	for n := 0; n < 58; n++ {
		err := d.Decode(b[:n])
		if !errors.Is(err, rawsock.ErrTruncated) {
			t.Errorf("Decode(%d of 58 bytes) = %v, want ErrTruncated", n, err)
		}
	}
	if err := d.Decode(b[:60]); err != nil {
		t.Errorf("Decode(whole frame) = %v", err)
	}
}
