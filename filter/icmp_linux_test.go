//go:build linux

package filter_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/testlab"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// ping sends one ICMP echo request (56 bytes of data, as ping(8) sends: an 84-byte IPv4
// packet) from n to dst with a raw socket opened inside the node, and waits for the
// matching echo reply.
func ping(t *testing.T, n *testlab.Node, dst string, seq int) {
	t.Helper()
	var c *icmp.PacketConn
	if err := n.Do(func() error {
		var err error
		c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		t.Fatalf("icmp socket in %s: %v", n.Name(), err)
	}
	defer c.Close()
	const id = 0x7049
	req := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: make([]byte, 56)}}
	b, err := req.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo(b, &net.IPAddr{IP: net.ParseIP(dst)}); err != nil {
		t.Fatalf("ping %s from %s: %v", dst, n.Name(), err)
	}
	c.SetReadDeadline(time.Now().Add(labtest.FailAfter)) // only ends a hang
	buf := make([]byte, 1500)
	for {
		k, from, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("ping %s from %s: no echo reply: %v", dst, n.Name(), err)
		}
		m, err := icmp.ParseMessage(1, buf[:k])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply || from.String() != dst {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq {
			return
		}
	}
}

// TestICMPTypeMatch: `icmp type echo-request counter accept` in forward and input chains
// counts echo requests only: a forwarded ping counts once in forward (its echo reply
// and the server's port unreachable for a UDP datagram are other types, and the
// datagram is no ICMP at all), a ping of the router once in input. nft lists the rule
// with the same counts.
func TestICMPTypeMatch(t *testing.T) {
	lab := labtest.Start(t, crs)
	router, client := lab.Node("router"), lab.Node("client")
	c := apply(t, router, `table inet icmpt {
	chain forward {
		type filter hook forward priority filter; policy accept;
		icmp type echo-request counter accept
		icmp type destination-unreachable counter accept
		udp dport 7040 counter
	}
	chain input {
		type filter hook input priority filter; policy accept;
		icmp type echo-request counter accept
		udp dport 7041 counter
	}
}`)
	ping(t, client, "198.19.2.2", 1) // through the router
	labtest.SendUDP(t, client, "198.19.2.2:7040")
	ping(t, client, "198.18.1.1", 2) // to the router
	labtest.SendUDP(t, client, "198.18.1.1:7041")

	// The server's port unreachable for the datagram is forwarded asynchronously, and
	// the datagram to the router passes input in the router's own time.
	labtest.Until(t, "the forwarded port unreachable and the datagram to the router", func() (bool, error) {
		return counter(t, c, "icmpt", "forward", "icmp type destination-unreachable") > 0 &&
			counter(t, c, "icmpt", "input", "udp dport 7041") > 0, nil
	})
	for _, tc := range []struct {
		chain, rule string
		want        uint64
	}{
		{"forward", "icmp type echo-request", 1},
		{"forward", "icmp type destination-unreachable", 1},
		{"forward", "udp dport 7040", 1},
		{"input", "icmp type echo-request", 1},
		{"input", "udp dport 7041", 1},
	} {
		if got := counter(t, c, "icmpt", tc.chain, tc.rule); got != tc.want {
			t.Errorf("%s: %q counted %d packets, want %d", tc.chain, tc.rule, got, tc.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := router.Exec(ctx, "nft", "list", "table", "inet", "icmpt")
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	for _, want := range []string{
		"icmp type echo-request counter packets 1 bytes 84 accept", // forward
		"udp dport 7040 counter packets 1 bytes 34",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nft list table inet icmpt lacks %q:\n%s", want, out)
		}
	}
}
