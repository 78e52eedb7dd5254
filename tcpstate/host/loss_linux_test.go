package host

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/testlab"
)

// nft applies a ruleset inside node n (never on the host) with the nft program.
func nft(t *testing.T, n *testlab.Node, ruleset string) {
	t.Helper()
	out, err := n.Exec(context.Background(), "nft", ruleset)
	if err != nil {
		t.Fatalf("nft in %s: %v: %s", n.Name(), err, out)
	}
}

func TestLabLostSegment(t *testing.T) {
	// D3, both as receiver: nftables on the router drops exactly one full-sized
	// data segment (the fourth: numgen inc); the receiver holds what follows and
	// sends duplicate ACKs with SACK blocks; the sender retransmits. The drop is on
	// a router because a drop in the sender's own output hook is reported back to
	// its TCP, which then simply sends the segment again later.
	for _, usClient := range []bool{true, false} {
		name := "userspace receives"
		if usClient {
			name = "kernel receives"
		}
		t.Run(name, func(t *testing.T) {
			lab := labtest.Start(t, routed)
			kern, router := lab.Node("kern"), lab.Node("router")
			// Before the connection: sockets cache the offloads at connect.
			wireSized(t, kern, lab.Node("us"))
			h, rec := startHost(t, lab.Node("us"), Config{Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.1.10/24")}})
			us, k := pair(t, h, kern, netip.MustParseAddr("198.18.2.2"), us4, usClient, nil)
			port := "dport 9090"
			if usClient {
				port = "dport 8080"
			}
			nft(t, router, "add table inet pktlab-loss; add chain inet pktlab-loss lossfwd { type filter hook forward priority 0; }; "+
				"add rule inet pktlab-loss lossfwd tcp "+port+" meta length > 1000 numgen inc mod 1000000 == 3 counter drop")
			exchange(t, us, k, 1<<20, 30*time.Second)
			out, _ := router.Exec(context.Background(), "nft", "list chain inet pktlab-loss lossfwd")
			if !strings.Contains(string(out), "packets 1 ") {
				t.Errorf("the rule did not drop exactly one packet:\n%s", out)
			}
			var st tcpstate.Stats
			us.Machine(func(m *tcpstate.Conn) { st = m.Stats() })
			var sacks int
			for _, s := range rec.segments(!usClient) {
				if s.Options.NumSACK > 0 {
					sacks++
				}
			}
			if sacks == 0 {
				t.Errorf("the receiver sent no SACK blocks for out-of-order data")
			}
			if usClient && st.Retransmits == 0 {
				t.Errorf("userspace sender never retransmitted: %+v", st)
			}
		})
	}
}

// wireSized turns TSO and GSO off on eth0 of the nodes, so that both the kernel's
// and the userspace host's (GSO) multi-MSS packets are cut into wire-sized
// segments before they leave the node, and a router drops single segments, as on a
// real wire, rather than 64 KB super-packets.
func wireSized(t *testing.T, nodes ...*testlab.Node) {
	t.Helper()
	for _, n := range nodes {
		if out, err := n.Exec(context.Background(), "ethtool", "-K", "eth0", "tso", "off", "gso", "off"); err != nil {
			t.Fatalf("ethtool in %s: %v: %s", n.Name(), err, out)
		}
	}
}

const routed = `
nodes:
  us:
    interfaces:
      eth0: [198.18.1.1/24, 2001:db8:1::1/64]
    routes: [default via 198.18.1.254, default via 2001:db8:1::fe]
  router:
    forward: true
    interfaces:
      eth0: [198.18.1.254/24, 2001:db8:1::fe/64]
      eth1: [198.18.2.254/24, 2001:db8:2::fe/64]
  kern:
    interfaces:
      eth0: [198.18.2.2/24, 2001:db8:2::2/64]
    routes: [default via 198.18.2.254, default via 2001:db8:2::fe]
links:
  - [us:eth0, router:eth0]
  - [router:eth1, kern:eth0]
`

func TestLabRandomLoss(t *testing.T) {
	// Random loss on a router (nftables numgen random mod 100 < N drop, both
	// directions): transfers through the gateway complete intact.
	for _, tc := range []struct {
		loss int
		size int64
	}{{1, 2 << 20}, {5, 1 << 20}, {20, 128 << 10}} {
		for _, usClient := range []bool{true, false} {
			name := fmt.Sprintf("%d%%/kernel client", tc.loss)
			if usClient {
				name = fmt.Sprintf("%d%%/userspace client", tc.loss)
			}
			t.Run(name, func(t *testing.T) {
				lab := labtest.Start(t, routed)
				wireSized(t, lab.Node("us"), lab.Node("kern"))
				// The test is about completing intact, not about backoff: with the
				// retransmission timeout capped at 1 s on both ends (Linux's
				// tcp_rto_max_ms, 6.15+, read at socket creation), a random run of
				// losses of the same segment costs seconds, not the minutes that
				// doubling up to 120 s can take at 20 % loss.
				if err := lab.Node("kern").SetSysctl("net.ipv4.tcp_rto_max_ms", "1000"); err != nil {
					t.Fatal(err)
				}
				h, _ := startHost(t, lab.Node("us"), Config{Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.1.10/24")}})
				us, k := pair(t, h, lab.Node("kern"), netip.MustParseAddr("198.18.2.2"), us4, usClient, &tcpstate.Config{MaxRTO: time.Second})
				nft(t, lab.Node("router"), fmt.Sprintf("add table inet pktlab-loss; add chain inet pktlab-loss lossfwd { type filter hook forward priority 0; }; "+
					"add rule inet pktlab-loss lossfwd meta l4proto tcp numgen random mod 100 < %d counter drop", tc.loss))
				start := time.Now()
				exchange(t, us, k, tc.size, 90*time.Second)
				var st tcpstate.Stats
				us.Machine(func(m *tcpstate.Conn) { st = m.Stats() })
				t.Logf("%d bytes each way in %v; userspace retransmits %d (fast %d, timeouts %d)", tc.size, time.Since(start), st.Retransmits, st.FastRetransmits, st.Timeouts)
				if tc.loss >= 5 && st.Retransmits == 0 {
					t.Errorf("no userspace retransmissions at %d%% loss", tc.loss)
				}
			})
		}
	}
}

func TestLabSharedMode(t *testing.T) {
	// Shared mode: the host uses the node's address; the kernel there would RST
	// every segment of the userspace flow, so an nftables table drops its RSTs for
	// the userspace ports, and is gone after Close.
	lab := labtest.Start(t, twoNodes)
	node := lab.Node("us")
	rec := &recorder{}
	h, err := Start(context.Background(), node, &Config{Shared: true, Events: rec.add})
	if err != nil {
		t.Fatal(err)
	}
	us, k := pair(t, h, lab.Node("kern"), kern4, netip.MustParseAddr("198.18.1.1"), true, nil)
	exchange(t, us, k, 1<<20, 20*time.Second)
	var fw []string
	for _, e := range rec.events() {
		if e.Kind == EventFirewall {
			fw = append(fw, e.Text)
		}
	}
	if len(fw) < 2 {
		t.Errorf("firewall events %q, want the table and a port rule reported", fw)
	}
	for _, s := range rec.segments(false) {
		if s.Flags&header.TCPFlagRST != 0 {
			t.Errorf("the userspace flow received a RST: %v", &s)
		}
	}
	table := h.fw.table
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(node.NetNSFd()))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == table {
			t.Errorf("table %s left behind after Close", table)
		}
	}
}
