//go:build linux

package rawsock_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/testlab"
)

const bridgeLab = `
nodes:
  sw:
    kind: bridge
    interfaces: {p1: [], p2: [], p3: []}
  a:
    interfaces:
      eth0: [198.18.1.1/24]
  b:
    interfaces:
      eth0: [198.18.1.2/24]
  c:
    interfaces:
      eth0: [198.18.1.3/24]
links:
  - [a:eth0, sw:p1]
  - [b:eth0, sw:p2]
  - [c:eth0, sw:p3]
`

// foreignMAC is a unicast address no lab interface has: the bridge has never learnt
// it, so it floods frames to it out of every port (unknown unicast flooding).
var foreignMAC = net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x99, 0x99}

// promiscuity reads the interface's promiscuity count from netlink
// (IFLA_PROMISCUITY) inside the node.
func promiscuity(t *testing.T, n *testlab.Node, iface string) int {
	t.Helper()
	h, err := n.Handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(iface)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Promisc
}

// sendForeign sends one UDP frame from a:eth0 to foreignMAC, tagged with seq in its
// payload.
func sendForeign(t *testing.T, c *rawsock.Conn, seq int) {
	t.Helper()
	b, err := rawsock.Serialize(nil,
		&layers.Ethernet{SrcMAC: net.HardwareAddr{0x02, 0, 0x5e, 0, 0, 1}, DstMAC: foreignMAC, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 18, 1, 1}, DstIP: net.IP{198, 18, 1, 99}},
		&layers.UDP{SrcPort: 40000, DstPort: 5000}, gopacket.Payload("pktlab-a3-"+strconv.Itoa(seq)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFrame(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// countForeign counts the frames to foreignMAC that sendForeign sent with seq.
func countForeign(frames []rawsock.Frame, seq int) int {
	n := 0
	for _, f := range frames {
		if len(f.Data) >= 6 && net.HardwareAddr(f.Data[:6]).String() == foreignMAC.String() &&
			bytes.HasSuffix(f.Data, []byte("pktlab-a3-"+strconv.Itoa(seq))) {
			n++
		}
	}
	return n
}

// TestA3PromiscMembership is experiment A3 on a flooding bridge. The bridge floods a
// frame for an unknown MAC out of every port; the bridge device itself (sw:br0) hands
// such a frame to its own stack and taps only while it is promiscuous
// (br_handle_frame_finish in net/bridge/br_input.c), so a packet socket there sees it
// only with a PACKET_MR_PROMISC membership, and the promiscuity count falls back to 0
// when the socket closes. A veth, by contrast, gives packet sockets every frame it
// receives, marked PACKET_OTHERHOST, promiscuous or not: the test asserts that too,
// because it is what users see on a veth.
func TestA3PromiscMembership(t *testing.T) {
	lab := labtest.Start(t, bridgeLab)
	sw, c := lab.Node("sw"), lab.Node("c")
	tx := open(t, lab, "a", "eth0", &rawsock.Config{Protocol: 0x88b5})
	port := open(t, lab, "sw", "p3", nil) // proof of flooding: the frame left on p3
	veth := open(t, lab, "c", "eth0", &rawsock.Config{Protocol: rawsock.ProtoIPv4})
	plain := open(t, lab, "sw", "br0", &rawsock.Config{Protocol: rawsock.ProtoIPv4})
	sendForeign(t, tx, 1)
	foreign := func(seq int) func([]rawsock.Frame) bool {
		return func(fs []rawsock.Frame) bool { return countForeign(fs, seq) > 0 }
	}
	if n := countForeign(readUntil(t, port, "the flooded frame on sw:p3", foreign(1)), 1); n != 1 {
		t.Fatalf("bridge port sw:p3 saw %d frames to %v, want 1 (flooded)", n, foreignMAC)
	}
	vf := readUntil(t, veth, "the flooded frame on c:eth0", foreign(1))
	if n := countForeign(vf, 1); n != 1 {
		t.Errorf("non-promiscuous socket on veth c:eth0 saw %d frames to the foreign MAC, want 1", n)
	}
	for _, f := range vf {
		if countForeign([]rawsock.Frame{f}, 1) == 1 && f.Type != rawsock.PacketOtherHost {
			t.Errorf("veth c:eth0 marked the frame to the foreign MAC %v, want otherhost", f.Type)
		}
	}
	// The bridge has flooded the frame (sw:p3 saw it); a broadcast sent after it is
	// handed up to br0 after it, so a frame missing before that fence never came.
	if n := countForeign(fence(t, tx, plain, layers.EthernetTypeIPv4), 1); n != 0 {
		t.Errorf("non-promiscuous socket on sw:br0 saw %d frames to the foreign MAC, want 0", n)
	}
	for _, ifc := range []struct {
		n    *testlab.Node
		name string
	}{{sw, "br0"}, {c, "eth0"}} {
		if got := promiscuity(t, ifc.n, ifc.name); got != 0 {
			t.Fatalf("%s:%s promiscuity %d before membership, want 0", ifc.n.Name(), ifc.name, got)
		}
	}
	prom := open(t, lab, "sw", "br0", &rawsock.Config{Protocol: rawsock.ProtoIPv4, Promisc: true})
	if got := promiscuity(t, sw, "br0"); got != 1 {
		t.Errorf("sw:br0 promiscuity %d with membership, want 1", got)
	}
	sendForeign(t, tx, 2)
	if n := countForeign(readUntil(t, prom, "the foreign frame on promiscuous sw:br0", foreign(2)), 2); n != 1 {
		t.Errorf("promiscuous socket on sw:br0 saw %d frames to the foreign MAC, want 1", n)
	}
	if err := prom.Close(); err != nil {
		t.Fatal(err)
	}
	if got := promiscuity(t, sw, "br0"); got != 0 {
		t.Errorf("sw:br0 promiscuity %d after close, want 0: the membership dies with the socket", got)
	}
	sendForeign(t, tx, 3)
	readUntil(t, port, "the third flooded frame on sw:p3", foreign(3))
	if n := countForeign(fence(t, tx, plain, layers.EthernetTypeIPv4), 3); n != 0 {
		t.Errorf("after the promiscuous socket closed, sw:br0 still delivered %d frames to the foreign MAC", n)
	}
}

// TestA5DirectDelivery is experiment A5: inside one subnet a ping goes over L2 only.
// On both ends of the link: an ARP request (broadcast, who-has b tell a), the ARP
// reply, then the echo request and reply sent straight to the peer's MAC, each with
// TTL 64 on both ends (no router, no decrement).
func TestA5DirectDelivery(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	ifA, err := lab.Node("a").Interface("eth0")
	must(t, err)
	ifB, err := lab.Node("b").Interface("eth0")
	must(t, err)
	filter := &rawsock.Config{Protocol: rawsock.ProtoAll}
	conns := []*rawsock.Conn{open(t, lab, "a", "eth0", filter), open(t, lab, "b", "eth0", filter)}
	ping(t, lab.Node("a"), addrB, 1)
	for _, c := range conns {
		var seen []string
		d := rawsock.NewDecoder(layers.LinkTypeEthernet)
		// The echo reply is the last frame of the exchange on both ends.
		reply := has(func(b []byte) bool { return isEcho(b, icmpEchoReply, 1) })
		for _, f := range readUntil(t, c, "the echo reply", reply) {
			if err := d.Decode(f.Data); err != nil {
				t.Fatalf("%s:%s: %v", c.Node(), c.Interface(), err)
			}
			switch {
			case d.Has(layers.LayerTypeARP):
				arp := d.ARP()
				if arp.Op() == header.ARPRequest && arp.TargetIP() == addrB {
					if d.Ethernet().Dst().String() != "ff:ff:ff:ff:ff:ff" {
						t.Errorf("%s: ARP request to %v, want broadcast", c.Node(), d.Ethernet().Dst())
					}
					seen = append(seen, "arp-request")
				}
				if arp.Op() == header.ARPReply && arp.SenderHW().String() == ifB.MAC.String() {
					seen = append(seen, "arp-reply")
				}
			case d.Has(layers.LayerTypeICMPv4) && d.ICMPv4().ID() == 0x1234:
				typ := d.ICMPv4().Type()
				wantDst := ifB.MAC
				name := "echo-request"
				if typ == header.ICMPv4EchoReply {
					wantDst, name = ifA.MAC, "echo-reply"
				}
				if d.IPv4().TTL() != 64 {
					t.Errorf("%s: %s with TTL %d, want 64 (no hop on a link)", c.Node(), name, d.IPv4().TTL())
				}
				if d.Ethernet().Dst().String() != wantDst.String() {
					t.Errorf("%s: %s to MAC %v, want the peer's %v", c.Node(), name, d.Ethernet().Dst(), wantDst)
				}
				seen = append(seen, name)
			}
		}
		want := []string{"arp-request", "arp-reply", "echo-request", "echo-reply"}
		if strings.Join(seen, " ") != strings.Join(want, " ") {
			t.Errorf("%s:%s saw %v, want %v in that order", c.Node(), c.Interface(), seen, want)
		}
	}
}
