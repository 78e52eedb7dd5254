package picture

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/timeline"
)

// TestSACKFromDecodedOptions: the SACK blocks a ladder marks and a time-sequence graph
// draws are read from the frame's decoded TCP options (rawsock/header), not from the
// option text the timeline renders for tcpdump's line (Packet.OptText, which a frame
// does not keep): an ACK with two SACK blocks has them, relative to the sender's ISN
// in the graph.
func TestSACKFromDecodedOptions(t *testing.T) {
	blocks := [][2]uint32{{5001, 6001}, {7001, 8001}}
	data := make([]byte, 16)
	for i, b := range blocks {
		binary.BigEndian.PutUint32(data[8*i:], b[0])
		binary.BigEndian.PutUint32(data[8*i+4:], b[1])
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{198, 18, 1, 1}, DstIP: net.IP{198, 18, 1, 2}}
	tcp := &layers.TCP{SrcPort: 80, DstPort: 40000, Seq: 9000, Ack: 4001, ACK: true, Window: 502, Options: []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindSACK, OptionLength: 18, OptionData: data}}}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	p := timeline.Decode(buf.Bytes())
	if d := cmp.Diff(blocks, sackBlocks(&p)); d != "" {
		t.Errorf("SACK blocks (-want +got):\n%s", d)
	}
	if !hasSACK(&p) {
		t.Error("hasSACK: false for an ACK with a SACK option")
	}
	f := &timeline.Frame{Packet: p, RelAck: 1, HasRelAck: true}
	if got, want := Label(f), "ack 1 sack"; got != want {
		t.Errorf("Label = %q, want %q", got, want)
	}
	g := seqGraph{base: 4000}
	if d := cmp.Diff([][2]uint32{{1001, 2001}, {3001, 4001}}, g.sackBlocks(&p)); d != "" {
		t.Errorf("graph's SACK blocks, relative to the ISN (-want +got):\n%s", d)
	}
	cut := timeline.Decode(buf.Bytes()[:len(buf.Bytes())-20]) // ends inside its options: no TCP header view
	if hasSACK(&cut) || sackBlocks(&cut) != nil {
		t.Error("a frame cut short of its TCP header has SACK blocks")
	}
}
