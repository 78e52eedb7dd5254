package rawsock_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
)

// TestCraftSpec decodes what CraftSpec lays out and checks the fields came through:
// IPv4 and IPv6 headers, the TCP options in TCPOptionSet's order, the Ethernet header
// of Frame and the corruption.
func TestCraftSpec(t *testing.T) {
	set := rawsock.TCPOptionSet{MSS: 1400, SACKOK: true, HasTS: true, TS: [2]uint32{100, 7}, SACK: []uint32{10, 20}, WScale: 7}
	s := &rawsock.CraftSpec{Src: netip.MustParseAddr("198.18.1.2"), Dst: netip.MustParseAddr("198.18.1.1"), Proto: layers.IPProtocolTCP,
		TTL: 9, TOS: 0x20, ID: 77, DF: true, SPort: 1, DPort: 2, Seq: 3, Ack: 4, Window: 5, Urgent: 6, SYN: true, ECE: true, CWR: true, URG: true,
		TCPOptions: set.Options(), Payload: []byte("hi")}
	pkt, err := s.Packet()
	if err != nil {
		t.Fatal(err)
	}
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if ip == nil || tcp == nil {
		t.Fatalf("decoded %v", p)
	}
	if ip.TTL != 9 || ip.TOS != 0x20 || ip.Id != 77 || ip.Flags != layers.IPv4DontFragment {
		t.Errorf("IPv4 header %+v", ip)
	}
	if !tcp.SYN || !tcp.ECE || !tcp.CWR || !tcp.URG || tcp.ACK || tcp.Urgent != 6 || tcp.Window != 5 || string(tcp.Payload) != "hi" {
		t.Errorf("TCP header %+v", tcp)
	}
	var kinds []layers.TCPOptionKind
	for _, o := range tcp.Options {
		kinds = append(kinds, o.OptionType)
	}
	want := []layers.TCPOptionKind{2, 4, 8, 1, 1, 5, 1, 3}
	if len(kinds) < len(want) {
		t.Fatalf("options %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("options %v, want %v first", kinds, want)
		}
	}

	// IPv6 behind Ethernet, ICMPv6 echo by default, payload length broken.
	s = &rawsock.CraftSpec{Src: netip.MustParseAddr("2001:db8::2"), Dst: netip.MustParseAddr("2001:db8::1"), TTL: 3, ICMPType: -1, ICMPID: 9,
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Corrupt: rawsock.Corruption{IPLength: 999}}
	frame, err := s.Frame()
	if err != nil {
		t.Fatal(err)
	}
	if et := binary.BigEndian.Uint16(frame[12:]); et != 0x86dd || frame[5] != 1 || frame[11] != 2 {
		t.Errorf("Ethernet header % x", frame[:14])
	}
	if pl := binary.BigEndian.Uint16(frame[14+4:]); pl != 999 || frame[14+7] != 3 || frame[14+6] != byte(layers.IPProtocolICMPv6) {
		t.Errorf("IPv6 header % x", frame[14:54])
	}
	if frame[54] != layers.ICMPv6TypeEchoRequest || binary.BigEndian.Uint16(frame[58:]) != 9 {
		t.Errorf("ICMPv6 % x", frame[54:])
	}

	s.Src = netip.MustParseAddr("198.18.1.2")
	if _, err := s.Packet(); err == nil {
		t.Error("mixed families: no error")
	}
}
