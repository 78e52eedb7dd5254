//go:build linux

package nat_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/mdlayher/packet"
	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/nat"
	"github.com/pktlab/pktlab/testlab"
	"golang.org/x/sys/unix"
)

// crs2 is client — router — two servers, IPv4 and IPv6.
const crs2 = `
nodes:
  client:
    interfaces:
      eth0: [198.18.1.2/24, 2001:db8:1::2/64]
    routes: [default via 198.18.1.1, default via 2001:db8:1::1]
  router:
    forward: true
    interfaces:
      eth0: [198.18.1.1/24, 2001:db8:1::1/64]
      eth1: [198.19.2.1/24, 2001:db8:2::1/64]
      eth2: [198.19.3.1/24]
  server:
    interfaces:
      eth0: [198.19.2.2/24, 2001:db8:2::2/64]
    routes: [default via 198.19.2.1, default via 2001:db8:2::1]
  server2:
    interfaces:
      eth0: [198.19.3.2/24]
    routes: [default via 198.19.3.1]
links:
  - [client:eth0, router:eth0]
  - [router:eth1, server:eth0]
  - [router:eth2, server2:eth0]
`

// seg is one TCP segment seen on a link.
type seg struct {
	Src, Dst         string
	SrcPort, DstPort uint16
	SYN, ACK         bool
}

// capture records TCP segments on iface of n with a packet socket opened inside the
// node, until the test ends.
type capture struct {
	mu   sync.Mutex
	segs []seg
}

func startCapture(t *testing.T, n *testlab.Node, iface string) *capture {
	t.Helper()
	var c *packet.Conn
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err != nil {
		t.Fatalf("capture on %s:%s: %v", n.Name(), iface, err)
	}
	cp := &capture{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			nb, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			p := gopacket.NewPacket(buf[:nb], layers.LayerTypeEthernet, gopacket.NoCopy)
			tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if tcp == nil {
				continue
			}
			s := seg{SrcPort: uint16(tcp.SrcPort), DstPort: uint16(tcp.DstPort), SYN: tcp.SYN, ACK: tcp.ACK}
			if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
				s.Src, s.Dst = ip.SrcIP.String(), ip.DstIP.String()
			} else if ip, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
				s.Src, s.Dst = ip.SrcIP.String(), ip.DstIP.String()
			}
			cp.mu.Lock()
			cp.segs = append(cp.segs, s)
			cp.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return cp
}

// first returns the first segment with the given SYN/ACK flags.
func (c *capture) first(t *testing.T, syn, ack bool) seg {
	t.Helper()
	var found seg
	labtest.Until(t, fmt.Sprintf("a segment with SYN=%v ACK=%v", syn, ack), func() (bool, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.IndexFunc(c.segs, func(s seg) bool { return s.SYN == syn && s.ACK == ack })
		if i < 0 {
			return false, fmt.Errorf("captured %+v", c.segs)
		}
		found = c.segs[i]
		return true, nil
	})
	return found
}

func applyNAT(t *testing.T, n *testlab.Node, fam filter.Family, ms ...nat.Mapping) *filter.Conn {
	t.Helper()
	c, err := filter.ForNode(n)
	if err != nil {
		t.Fatal(err)
	}
	ifs, err := c.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := nat.Build(fam, "", ifs, ms...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	return c
}

// serve answers every connection on addr inside n with the node's name.
func serve(t *testing.T, n *testlab.Node, network, addr string) <-chan net.Addr {
	t.Helper()
	var ln net.Listener
	if err := n.Do(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	}); err != nil {
		t.Fatalf("listen in %s: %v", n.Name(), err)
	}
	peers := make(chan net.Addr, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peers <- c.RemoteAddr()
			c.Write([]byte(n.Name()))
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return peers
}

// fetch connects from n to addr and returns what the server said and the local
// address the client used.
func fetch(t *testing.T, n *testlab.Node, network, addr string) (string, net.Addr, net.Addr) {
	t.Helper()
	var c net.Conn
	if err := n.Do(func() error {
		var err error
		c, err = net.DialTimeout(network, addr, labtest.FailAfter)
		return err
	}); err != nil {
		t.Fatalf("connect from %s to %s: %v", n.Name(), addr, err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(labtest.FailAfter)) // only ends a hang
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return string(b), c.LocalAddr(), c.RemoteAddr()
}

func conntrackOf(t *testing.T, n *testlab.Node, proto uint8, dport uint16) nat.Entry {
	t.Helper()
	ct, err := nat.ForNode(n)
	if err != nil {
		t.Fatal(err)
	}
	es, err := ct.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Proto == proto && e.Orig.DstPort == dport {
			return e
		}
	}
	t.Fatalf("no conntrack entry for proto %d dport %d in %v", proto, dport, es)
	return nat.Entry{}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestG1SNAT: EXPERIMENTS.md G1. SNAT on the router's postrouting: the server sees the
// router's address, the client sees the server; both router links show the rewrite,
// and conntrack holds both tuples.
func TestG1SNAT(t *testing.T) {
	lab := labtest.Start(t, crs2)
	router, client, server := lab.Node("router"), lab.Node("client"), lab.Node("server")
	peers := serve(t, server, "tcp4", "198.19.2.2:80")
	in, out := startCapture(t, router, "eth0"), startCapture(t, router, "eth1")
	applyNAT(t, router, filter.FamilyIP, nat.SNAT{OutIface: "eth1", To: netip.AddrPortFrom(addr("198.19.2.1"), 0)})
	got, local, _ := fetch(t, client, "tcp4", "198.19.2.2:80")
	if got != "server" {
		t.Fatalf("server said %q", got)
	}
	peer := (<-peers).(*net.TCPAddr)
	if peer.IP.String() != "198.19.2.1" {
		t.Errorf("server saw the client as %s, want the router's 198.19.2.1", peer.IP)
	}
	cport := uint16(local.(*net.TCPAddr).Port)
	if diff := cmp.Diff(seg{"198.18.1.2", "198.19.2.2", cport, 80, true, false}, in.first(t, true, false)); diff != "" {
		t.Errorf("SYN on router eth0 (-want +got):\n%s", diff)
	}
	synOut := out.first(t, true, false)
	if synOut.Src != "198.19.2.1" || synOut.Dst != "198.19.2.2" || synOut.DstPort != 80 {
		t.Errorf("SYN on router eth1 = %+v, want source rewritten to 198.19.2.1", synOut)
	}
	if diff := cmp.Diff(seg{"198.19.2.2", "198.19.2.1", 80, synOut.SrcPort, true, true}, out.first(t, true, true)); diff != "" {
		t.Errorf("SYN-ACK on router eth1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(seg{"198.19.2.2", "198.18.1.2", 80, cport, true, true}, in.first(t, true, true)); diff != "" {
		t.Errorf("SYN-ACK on router eth0, destination restored (-want +got):\n%s", diff)
	}
	e := conntrackOf(t, router, unix.IPPROTO_TCP, 80)
	wantOrig := nat.Tuple{Src: addr("198.18.1.2"), Dst: addr("198.19.2.2"), SrcPort: cport, DstPort: 80}
	wantReply := nat.Tuple{Src: addr("198.19.2.2"), Dst: addr("198.19.2.1"), SrcPort: 80, DstPort: synOut.SrcPort}
	if diff := cmp.Diff([]nat.Tuple{wantOrig, wantReply}, []nat.Tuple{e.Orig, e.Reply}, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("conntrack tuples (-want +got):\n%s", diff)
	}
}

// TestG3DNATPortForward: EXPERIMENTS.md G3. router:8080 → server:80; the reply source
// is restored, so the client talks to router:8080 throughout.
func TestG3DNATPortForward(t *testing.T) {
	lab := labtest.Start(t, crs2)
	router, client, server := lab.Node("router"), lab.Node("client"), lab.Node("server")
	peers := serve(t, server, "tcp4", "198.19.2.2:80")
	in, out := startCapture(t, router, "eth0"), startCapture(t, router, "eth1")
	applyNAT(t, router, filter.FamilyIP, nat.DNAT{Proto: "tcp", Port: 8080, To: netip.MustParseAddrPort("198.19.2.2:80")})
	got, local, remote := fetch(t, client, "tcp4", "198.18.1.1:8080")
	if got != "server" || remote.String() != "198.18.1.1:8080" {
		t.Fatalf("client got %q from %s, want \"server\" from 198.18.1.1:8080", got, remote)
	}
	if p := (<-peers).(*net.TCPAddr); p.IP.String() != "198.18.1.2" {
		t.Errorf("server saw %s, want the client's own address (no SNAT)", p)
	}
	cport := uint16(local.(*net.TCPAddr).Port)
	checks := []struct {
		name string
		c    *capture
		syn  bool
		ack  bool
		want seg
	}{
		{"SYN on eth0", in, true, false, seg{"198.18.1.2", "198.18.1.1", cport, 8080, true, false}},
		{"SYN on eth1, destination rewritten", out, true, false, seg{"198.18.1.2", "198.19.2.2", cport, 80, true, false}},
		{"SYN-ACK on eth1", out, true, true, seg{"198.19.2.2", "198.18.1.2", 80, cport, true, true}},
		{"SYN-ACK on eth0, source restored", in, true, true, seg{"198.18.1.1", "198.18.1.2", 8080, cport, true, true}},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.c.first(t, c.syn, c.ack)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	e := conntrackOf(t, router, unix.IPPROTO_TCP, 8080)
	want := []nat.Tuple{
		{Src: addr("198.18.1.2"), Dst: addr("198.18.1.1"), SrcPort: cport, DstPort: 8080},
		{Src: addr("198.19.2.2"), Dst: addr("198.18.1.2"), SrcPort: 80, DstPort: cport},
	}
	if diff := cmp.Diff(want, []nat.Tuple{e.Orig, e.Reply}, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("conntrack tuples (-want +got):\n%s", diff)
	}
}

// TestG4LoadBalance: EXPERIMENTS.md G4. numgen inc mod 2: flows 1 and 3 go to backend
// A, flows 2 and 4 to backend B.
func TestG4LoadBalance(t *testing.T) {
	lab := labtest.Start(t, crs2)
	router, client := lab.Node("router"), lab.Node("client")
	serve(t, lab.Node("server"), "tcp4", "198.19.2.2:80")
	serve(t, lab.Node("server2"), "tcp4", "198.19.3.2:80")
	applyNAT(t, router, filter.FamilyIP, nat.LoadBalance{Proto: "tcp", Port: 80, Backends: []netip.Addr{addr("198.19.2.2"), addr("198.19.3.2")}})
	var got []string
	for i := 0; i < 4; i++ {
		s, _, _ := fetch(t, client, "tcp4", "198.18.1.1:80")
		got = append(got, s)
	}
	if diff := cmp.Diff([]string{"server", "server2", "server", "server2"}, got); diff != "" {
		t.Errorf("backend per flow (-want +got):\n%s", diff)
	}
}

// TestG5NATOncePerConnection: EXPERIMENTS.md G5. The nat chain sees only the first
// packet of a connection; the filter chain sees all of them. One connection: the nat
// rule counts exactly 1, and the two forward rules together count exactly the packets
// of the connection captured on the router's client link (every forwarded packet of
// the connection crosses it once, in or out).
func TestG5NATOncePerConnection(t *testing.T) {
	lab := labtest.Start(t, crs2)
	router, client := lab.Node("router"), lab.Node("client")
	serve(t, lab.Node("server"), "tcp4", "198.19.2.2:80")
	c, err := filter.ForNode(router)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.ParseFor("g5.nft", []byte(`table ip g5 {
	chain nat_post {
		type nat hook postrouting priority srcnat; policy accept;
		tcp dport 80 counter snat to 198.19.2.1
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		tcp dport 80 counter
		tcp sport 80 counter
	}
}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	link := startCapture(t, router, "eth0")
	got, local, _ := fetch(t, client, "tcp4", "198.19.2.2:80")
	if got != "server" {
		t.Fatalf("server said %q", got)
	}
	cport := uint16(local.(*net.TCPAddr).Port)
	// captured counts the connection's segments on the link.
	captured := func() (n uint64, syn, synAck bool) {
		link.mu.Lock()
		defer link.mu.Unlock()
		for _, s := range link.segs {
			if s.SrcPort == cport && s.DstPort == 80 || s.SrcPort == 80 && s.DstPort == cport {
				n++
				syn = syn || s.SYN && !s.ACK
				synAck = synAck || s.SYN && s.ACK
			}
		}
		return n, syn, synAck
	}
	counted := func() (natPkts, fwdPkts uint64) {
		rows, err := c.Counters(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			switch {
			case r.Handle == 0:
			case r.Chain == "nat_post":
				natPkts += r.Packets
			case r.Chain == "forward":
				fwdPkts += r.Packets
			}
		}
		return natPkts, fwdPkts
	}
	// The client's FIN and the server's last ACK cross the router after fetch returns.
	// Conntrack puts the connection in TIME_WAIT when the last of them passes the
	// router; the forward counters and the capture then catch up with it.
	ct, err := nat.ForNode(router)
	if err != nil {
		t.Fatal(err)
	}
	labtest.Until(t, "conntrack to see the connection closed", func() (bool, error) {
		es, err := ct.List(context.Background())
		return slices.ContainsFunc(es, func(e nat.Entry) bool { return e.Orig.SrcPort == cport && e.State == "TIME_WAIT" }), err
	})
	var natPkts, fwdPkts, onLink uint64
	var syn, synAck bool
	labtest.Until(t, "the forward counters to count the packets on the link", func() (bool, error) {
		natPkts, fwdPkts = counted()
		onLink, syn, synAck = captured()
		return fwdPkts == onLink, fmt.Errorf("forward chain counted %d packets, the link carried %d", fwdPkts, onLink)
	})
	if !syn || !synAck {
		t.Fatalf("capture on router eth0 lacks the handshake (SYN %v, SYN-ACK %v) of port %d: %+v", syn, synAck, cport, link.segs)
	}
	if natPkts != 1 {
		t.Errorf("nat chain counted %d packets for one connection, want 1 (its first packet only)", natPkts)
	}
	if fwdPkts != onLink {
		t.Errorf("forward chain counted %d packets, the router's client link carried %d of the connection; want equal (every packet)", fwdPkts, onLink)
	}
	if onLink <= 1 {
		t.Errorf("the connection had %d packets on the link; the experiment needs more than the first", onLink)
	}
	t.Logf("one connection: %d packets on the link, %d counted in forward, %d in nat", onLink, fwdPkts, natPkts)
}

// TestF7Notrack: EXPERIMENTS.md F7. notrack in the raw priority keeps a flow out of
// the conntrack table.
func TestF7Notrack(t *testing.T) {
	lab := labtest.Start(t, crs2)
	server, client := lab.Node("server"), lab.Node("client")
	c, err := filter.ForNode(server)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.ParseFor("f7.nft", []byte(`table ip f7 {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		udp dport 9999 notrack
	}
	chain in {
		type filter hook input priority filter; policy accept;
		udp dport 9998 counter
		udp dport 9999 counter
		ct state untracked counter
	}
}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	for _, port := range []string{"9998", "9999"} {
		labtest.SendUDP(t, client, "198.19.2.2:"+port)
	}
	ct, err := nat.ForNode(server)
	if err != nil {
		t.Fatal(err)
	}
	// Both datagrams have passed the input chain once its two port counters are 1,
	// and the tracked one's entry is in the table once conntrack confirmed it (right
	// after the input chain).
	var es []nat.Entry
	labtest.Until(t, "both datagrams through input and the tracked one's entry", func() (bool, error) {
		rows, err := c.Counters(context.Background())
		if err != nil {
			return false, err
		}
		passed := 0
		for _, r := range rows {
			if r.Chain == "in" && strings.HasPrefix(r.Rule, "udp dport 999") && r.Packets == 1 {
				passed++
			}
		}
		if es, err = ct.List(context.Background()); err != nil {
			return false, err
		}
		tracked := slices.ContainsFunc(es, func(e nat.Entry) bool { return e.Proto == unix.IPPROTO_UDP && e.Orig.DstPort == 9998 })
		return passed == 2 && tracked, fmt.Errorf("%d of 2 port counters at 1, entries %v", passed, es)
	})
	var ports []uint16
	for _, e := range es {
		if e.Proto == unix.IPPROTO_UDP {
			ports = append(ports, e.Orig.DstPort)
		}
	}
	if diff := cmp.Diff([]uint16{9998}, ports); diff != "" {
		t.Errorf("UDP conntrack entries by destination port (-want +got):\n%s", diff)
	}
	if err := ct.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if es, err := ct.List(context.Background()); err != nil || len(es) != 0 {
		t.Errorf("after flush: %v entries, err %v; want none", es, err)
	}
}

// TestIPv6DNATAndMasquerade: the IPv6 side of G1/G3 in an inet table: a port forward
// to the server and masquerade on the way out; the server sees the router's address,
// and the conntrack watch reports the new entry with both tuples.
func TestIPv6DNATAndMasquerade(t *testing.T) {
	lab := labtest.Start(t, crs2)
	router, client, server := lab.Node("router"), lab.Node("client"), lab.Node("server")
	peers := serve(t, server, "tcp6", "[2001:db8:2::2]:80")
	ct, err := nat.ForNode(router)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	events, wait, err := ct.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	applyNAT(t, router, filter.FamilyINet,
		nat.DNAT{Proto: "tcp", Port: 8080, To: netip.MustParseAddrPort("[2001:db8:2::2]:80")},
		nat.Masquerade{OutIface: "eth1"})
	got, local, _ := fetch(t, client, "tcp6", "[2001:db8:1::1]:8080")
	if got != "server" {
		t.Fatalf("server said %q", got)
	}
	if p := (<-peers).(*net.TCPAddr); p.IP.String() != "2001:db8:2::1" {
		t.Errorf("server saw %s, want the router's 2001:db8:2::1 (masquerade)", p.IP)
	}
	cport := uint16(local.(*net.TCPAddr).Port)
	var seen *nat.Event
	timeout := time.After(labtest.FailAfter) // only ends a hang: the event comes with the SYN
	for seen == nil {
		select {
		case ev := <-events:
			if ev.Type == nat.EventNew && ev.Entry.Orig.DstPort == 8080 {
				seen = &ev
			}
		case <-timeout:
			t.Fatal("no conntrack new event for the connection")
		}
	}
	cancel()
	if err := wait(); err != nil {
		t.Errorf("watch: %v", err)
	}
	e := seen.Entry
	if e.Orig.Src != addr("2001:db8:1::2") || e.Orig.SrcPort != cport || e.Orig.Dst != addr("2001:db8:1::1") {
		t.Errorf("orig tuple %v", e.Orig)
	}
	if e.Reply.Src != addr("2001:db8:2::2") || e.Reply.SrcPort != 80 || e.Reply.Dst != addr("2001:db8:2::1") {
		t.Errorf("reply tuple %v, want from [2001:db8:2::2]:80 to the router's 2001:db8:2::1", e.Reply)
	}
}

// TestG7Redirect: EXPERIMENTS.md G7. Traffic to any address port 80 crossing the
// router lands on the router's own port 8080.
func TestG7Redirect(t *testing.T) {
	lab := labtest.Start(t, crs2)
	router, client := lab.Node("router"), lab.Node("client")
	serve(t, lab.Node("server"), "tcp4", "198.19.2.2:80")
	peers := serve(t, router, "tcp4", ":8080")
	applyNAT(t, router, filter.FamilyIP, nat.Redirect{Proto: "tcp", Port: 80, ToPort: 8080})
	got, _, remote := fetch(t, client, "tcp4", "198.19.2.2:80")
	if got != "router" {
		t.Errorf("connection to 198.19.2.2:80 answered by %q, want the router", got)
	}
	if remote.String() != "198.19.2.2:80" {
		t.Errorf("client sees its peer as %s, want 198.19.2.2:80", remote)
	}
	if p := (<-peers).(*net.TCPAddr); p.IP.String() != "198.18.1.2" {
		t.Errorf("router's listener saw %s, want the client", p)
	}
	e := conntrackOf(t, router, unix.IPPROTO_TCP, 80)
	if e.Reply.Src != addr("198.18.1.1") || e.Reply.SrcPort != 8080 {
		t.Errorf("reply tuple %v, want from the router's 198.18.1.1:8080", e.Reply)
	}
}

// TestG6SNATPortClash: EXPERIMENTS.md G6. Two clients using the same source port
// through one SNAT address get distinct mapped ports.
func TestG6SNATPortClash(t *testing.T) {
	lab := labtest.Start(t, strings.Replace(crs2, "eth0: [198.18.1.2/24, 2001:db8:1::2/64]", "eth0: [198.18.1.2/24, 198.18.1.3/24, 2001:db8:1::2/64]", 1))
	router, client := lab.Node("router"), lab.Node("client")
	serve(t, lab.Node("server"), "tcp4", "198.19.2.2:80")
	applyNAT(t, router, filter.FamilyIP, nat.SNAT{OutIface: "eth1", To: netip.AddrPortFrom(addr("198.19.2.1"), 0)})
	var conns []net.Conn
	for _, src := range []string{"198.18.1.2", "198.18.1.3"} {
		err := client.Do(func() error {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src), Port: 40000}, Timeout: 2 * time.Second}
			c, err := d.Dial("tcp4", "198.19.2.2:80")
			if err == nil {
				conns = append(conns, c)
			}
			return err
		})
		if err != nil {
			t.Fatalf("connect from %s:40000: %v", src, err)
		}
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	ct, err := nat.ForNode(router)
	if err != nil {
		t.Fatal(err)
	}
	es, err := ct.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mapped := map[uint16]string{}
	for _, e := range es {
		if e.Proto == unix.IPPROTO_TCP && e.Orig.SrcPort == 40000 {
			if e.Reply.Dst != addr("198.19.2.1") {
				t.Errorf("reply tuple %v: want the SNAT address 198.19.2.1", e.Reply)
			}
			mapped[e.Reply.DstPort] = e.Orig.Src.String()
		}
	}
	if len(mapped) != 2 {
		t.Errorf("mapped ports %v: want two distinct ports for the two clients", mapped)
	}
}
