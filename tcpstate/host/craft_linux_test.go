package host

import (
	"context"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/testlab"
)

func rawsockOpenIP(n *testlab.Node) (*rawsock.IPConn, error) { return rawsock.OpenIP(n, false) }

// sendStrayACK sends a crafted ACK that belongs to no connection.
func sendStrayACK(c *rawsock.IPConn, src, dst netip.Addr, sport, dport uint16, seq, ack uint32) error {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack, ACK: true, Window: 1000}
	pkt, err := rawsock.Serialize(nil, ip, tcp)
	if err != nil {
		return err
	}
	return c.WritePacket(context.Background(), pkt, dst)
}

var _ gopacket.SerializableLayer
