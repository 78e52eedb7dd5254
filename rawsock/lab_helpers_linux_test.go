//go:build linux

package rawsock_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/testlab"
)

const twoNodes = `
nodes:
  a:
    interfaces:
      eth0: [198.18.1.1/24, 2001:db8:1::1/64]
  b:
    interfaces:
      eth0: [198.18.1.2/24, 2001:db8:1::2/64]
links:
  - [a:eth0, b:eth0]
`

// ping sends one ICMP or ICMPv6 echo request from node n to dst through the kernel
// (an ip4:icmp / ip6:ipv6-icmp socket opened inside the node).
func ping(t *testing.T, n *testlab.Node, dst netip.Addr, seq int) {
	t.Helper()
	network, typ := "ip4:icmp", icmp.Type(ipv4.ICMPTypeEcho)
	if dst.Is6() {
		network, typ = "ip6:ipv6-icmp", ipv6.ICMPTypeEchoRequest
	}
	var c *icmp.PacketConn
	if err := n.Do(func() (err error) { c, err = icmp.ListenPacket(network, ""); return err }); err != nil {
		t.Fatalf("open %s socket in %s: %v", network, n.Name(), err)
	}
	defer c.Close()
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: 0x1234, Seq: seq, Data: []byte("pktlab")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		t.Fatalf("ping %s from %s: %v", dst, n.Name(), err)
	}
}

// readUntil reads c until done holds for the frames read so far and returns copies of
// them all. Reaching labtest.FailAfter fails the test: done never held.
func readUntil(t *testing.T, c *rawsock.Conn, what string, done func([]rawsock.Frame) bool) []rawsock.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), labtest.FailAfter)
	defer cancel()
	var out []rawsock.Frame
	buf := make([]byte, 65536)
	for !done(out) {
		f, err := c.ReadFrame(ctx, buf)
		if err != nil {
			t.Fatalf("read on %s:%s waiting for %s (%d frames read): %v", c.Node(), c.Interface(), what, len(out), err)
		}
		f.Data = append([]byte(nil), f.Data...)
		out = append(out, f)
	}
	return out
}

// has returns a readUntil condition: some frame's bytes satisfy match.
func has(match func([]byte) bool) func([]rawsock.Frame) bool {
	return func(frames []rawsock.Frame) bool {
		return slices.ContainsFunc(frames, func(f rawsock.Frame) bool { return match(f.Data) })
	}
}

var fences atomic.Uint64

// fence sends a broadcast frame of EtherType et from tx and reads rx until that frame
// arrives, returning the frames rx read before it. It is how a test shows that
// something did not arrive: a frame sent from the same node after the traffic under
// test reaches rx after it (one veth, one receive path), so what is missing when the
// fence is there never came. rx must take et.
func fence(t *testing.T, tx, rx *rawsock.Conn, et layers.EthernetType) []rawsock.Frame {
	t.Helper()
	return toFence(t, rx, sendFence(t, tx, et))
}

// sendFence sends a fence frame of EtherType et from tx and returns its tag. An IPv4
// or IPv6 fence is a well-formed UDP datagram to the link's broadcast (all-nodes)
// address, since a bridge with br_netfilter drops malformed IP (br_validate_ipv4).
func sendFence(t *testing.T, tx *rawsock.Conn, et layers.EthernetType) []byte {
	t.Helper()
	tag := []byte("pktlab-fence-" + strconv.FormatUint(fences.Add(1), 10))
	ls := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: net.HardwareAddr{0x02, 0, 0x5e, 0, 0, 0xfe},
		DstMAC: layers.EthernetBroadcast, EthernetType: et}}
	udp := &layers.UDP{SrcPort: 9, DstPort: 9} // discard (RFC 863): nothing listens
	switch et {
	case layers.EthernetTypeIPv4:
		ls = append(ls, &layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4zero, DstIP: net.IPv4bcast}, udp)
	case layers.EthernetTypeIPv6:
		ls = append(ls, &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolUDP, SrcIP: net.IPv6unspecified, DstIP: net.IPv6linklocalallnodes}, udp)
	}
	b, err := rawsock.Serialize(nil, append(ls, gopacket.Payload(tag))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.WriteFrame(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return tag
}

// toFence reads rx up to the fence frame with tag and returns the frames before it.
func toFence(t *testing.T, rx *rawsock.Conn, tag []byte) []rawsock.Frame {
	t.Helper()
	isFence := func(b []byte) bool { return bytes.Contains(b, tag) }
	frames := readUntil(t, rx, string(tag), has(isFence))
	return frames[:len(frames)-1]
}

// open opens a packet socket or fails the test; the socket closes with the test.
func open(t *testing.T, lab *testlab.Lab, node, iface string, cfg *rawsock.Config) *rawsock.Conn {
	t.Helper()
	c, err := rawsock.Open(lab.Node(node), iface, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
