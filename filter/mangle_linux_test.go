//go:build linux

package filter_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/testlab"
)

// TestTTLSetLeavesIPv6Alone: `ip ttl set 23` in an inet table rewrites the TTL of IPv4
// packets and nothing in IPv6 ones. Compiled without the `meta nfproto ipv4` that nft
// puts in front of it, the kernel rule rewrote bytes 8-9 of every IPv6 header (the
// start of the source address) and "fixed" a checksum at bytes 10-11 of it.
func TestTTLSetLeavesIPv6Alone(t *testing.T) {
	lab := labtest.Start(t, oneNode)
	fw, peer := lab.Node("fw"), lab.Node("peer")
	apply(t, fw, `table inet mangle {
	chain post {
		type filter hook postrouting priority mangle; policy accept;
		ip ttl set 23
	}
}
`)
	sock, err := rawsock.Open(peer, "eth0", &rawsock.Config{Cooked: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()

	v6 := sendAndCapture(t, fw, sock, "udp6", "[2001:db8:1::2]:9")
	if src := netip.AddrFrom16([16]byte(v6[8:24])); src != netip.MustParseAddr("2001:db8:1::1") {
		t.Errorf("IPv6 source on the wire %s, want 2001:db8:1::1 (the rule rewrote the IPv6 header)", src)
	}
	if hl := v6[7]; hl != 64 {
		t.Errorf("IPv6 hop limit on the wire %d, want 64 (untouched)", hl)
	}
	v4 := sendAndCapture(t, fw, sock, "udp4", "198.18.1.2:9")
	if ttl := v4[8]; ttl != 23 {
		t.Errorf("IPv4 TTL on the wire %d, want 23 (set by the rule)", ttl)
	}
}

// sendAndCapture sends one UDP datagram from n to dst with a kernel socket and returns
// the network header on of the first frame to UDP port 9 that sock sees.
func sendAndCapture(t *testing.T, n *testlab.Node, sock *rawsock.Conn, network, dst string) []byte {
	t.Helper()
	payload := []byte("pktlab-mangle-" + network)
	if err := n.Do(func() error {
		c, err := net.Dial(network, dst)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(payload)
		return err
	}); err != nil {
		t.Fatalf("send %s to %s: %v", network, dst, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	buf := make([]byte, 2048)
	for {
		f, err := sock.ReadFrame(ctx, buf)
		if err != nil {
			t.Fatalf("no %s datagram to %s seen on the wire (a rule that rewrites IPv6 headers breaks neighbour discovery too): %v", network, dst, err)
		}
		if bytes.HasSuffix(f.Data, payload) {
			return append([]byte(nil), f.Data...)
		}
	}
}
