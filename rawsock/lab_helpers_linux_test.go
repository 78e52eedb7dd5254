//go:build linux

package rawsock_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

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

// collect reads frames from c for d and returns copies of them.
func collect(t *testing.T, c *rawsock.Conn, d time.Duration) []rawsock.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out []rawsock.Frame
	buf := make([]byte, 65536)
	for {
		f, err := c.ReadFrame(ctx, buf)
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("read on %s:%s: %v", c.Node(), c.Interface(), err)
			}
			return out
		}
		f.Data = append([]byte(nil), f.Data...)
		out = append(out, f)
	}
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
