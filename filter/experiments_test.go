//go:build linux

package filter_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/testlab"
	"golang.org/x/net/ipv4"
)

// crs is client — router — server, IPv4 only so that no IPv6 neighbour discovery shows
// up in traces.
const crs = `
nodes:
  client:
    interfaces:
      eth0: [198.18.1.2/24]
    routes: [default via 198.18.1.1]
  router:
    forward: true
    interfaces:
      eth0: [198.18.1.1/24]
      eth1: [198.19.2.1/24]
  server:
    interfaces:
      eth0: [198.19.2.2/24]
    routes: [default via 198.19.2.1]
links:
  - [client:eth0, router:eth0]
  - [router:eth1, server:eth0]
`

func apply(t *testing.T, n *testlab.Node, src string) *filter.Conn {
	t.Helper()
	c, err := filter.ForNode(n)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.ParseFor(t.Name()+".nft", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	return c
}

// dial connects with a kernel TCP socket inside n and returns the error.
func dial(n *testlab.Node, dst string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp4", dst, timeout)
		return err
	})
	return c, err
}

// listen starts a TCP server inside n that answers each connection with its name and
// reports the peer address of every accepted connection.
func listen(t *testing.T, n *testlab.Node, addr string) <-chan net.Addr {
	t.Helper()
	var ln net.Listener
	if err := n.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		t.Fatalf("listen in %s on %s: %v", n.Name(), addr, err)
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

// udpDport returns the UDP destination port of a trace event's transport header.
func udpDport(e filter.TraceEvent) int {
	if len(e.TransportHeader) < 4 {
		return 0
	}
	return int(binary.BigEndian.Uint16(e.TransportHeader[2:4]))
}

// collect reads trace events until done holds for them. Past labtest.FailAfter it
// fails the test and returns what came, for the caller's assertions to show.
func collect(t *testing.T, tr *filter.Tracer, done func([]filter.TraceEvent) bool) []filter.TraceEvent {
	t.Helper()
	var evs []filter.TraceEvent
	deadline := time.After(labtest.FailAfter)
	for {
		select {
		case e, ok := <-tr.Events():
			if !ok {
				t.Fatalf("trace stopped: %v", tr.Err())
			}
			evs = append(evs, e)
			if done(evs) {
				return evs
			}
		case <-deadline:
			t.Errorf("trace: the awaited events not among the %d that came in %v", len(evs), labtest.FailAfter)
			return evs
		}
	}
}

func pathFor(paths []filter.Path, dport int) *filter.Path {
	for i, p := range paths {
		for _, e := range p.Events {
			if udpDport(e) == dport {
				return &paths[i]
			}
		}
	}
	return nil
}

// TestF1HookTraversal: EXPERIMENTS.md F1. A counting base chain on every hook of the
// router; three UDP flows; each packet's hook sequence from trace events.
func TestF1HookTraversal(t *testing.T) {
	lab := labtest.Start(t, crs)
	router := lab.Node("router")
	c := apply(t, router, `table inet f1 {
	chain pre { type filter hook prerouting priority filter; policy accept; counter; }
	chain in { type filter hook input priority filter; policy accept; counter; }
	chain forward { type filter hook forward priority filter; policy accept; counter; }
	chain out { type filter hook output priority filter; policy accept; counter; }
	chain post { type filter hook postrouting priority filter; policy accept; counter; }
}`)
	tr, err := c.Trace(context.Background(), "udp dport 7001-7003")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tr.Close(); err != nil {
			t.Errorf("close tracer: %v", err)
		}
	}()
	labtest.SendUDP(t, lab.Node("client"), "198.18.1.1:7001") // to the router: local in
	labtest.SendUDP(t, lab.Node("client"), "198.19.2.2:7002") // through the router: forwarded
	labtest.SendUDP(t, router, "198.19.2.2:7003")             // from the router: local out
	want := map[int][]string{
		7001: {"prerouting", "input"},
		7002: {"prerouting", "forward", "postrouting"},
		7003: {"output", "postrouting"},
	}
	evs := collect(t, tr, func(evs []filter.TraceEvent) bool {
		paths := filter.GroupPaths(evs)
		for port, hooks := range want {
			p := pathFor(paths, port)
			if p == nil || len(p.Hooks()) < len(hooks) || p.Final() == "" {
				return false
			}
		}
		return true
	})
	paths := filter.GroupPaths(evs)
	for port, hooks := range want {
		p := pathFor(paths, port)
		if p == nil {
			t.Errorf("no trace for udp dport %d; got %d events", port, len(evs))
			continue
		}
		if diff := cmp.Diff(hooks, p.Hooks()); diff != "" {
			t.Errorf("dport %d hook sequence (-want +got):\n%s", port, diff)
		}
		for _, e := range p.Events {
			if e.Table != "f1" {
				t.Errorf("dport %d: event from table %q, want only f1", port, e.Table)
			}
		}
	}
	// The counting side: every hook's chain counted at least the packets traced
	// through it (two for prerouting and postrouting, one for the others).
	want2 := map[string]uint64{"pre": 2, "in": 1, "forward": 1, "out": 1, "post": 2}
	for chain, min := range want2 {
		if n := counter(t, c, "f1", chain, "counter packets"); n < min {
			t.Errorf("chain %s counted %d packets, want at least %d", chain, n, min)
		}
	}
}

// TestF2PriorityOrder: EXPERIMENTS.md F2. One chain per standard priority on
// prerouting, created in shuffled order; the trace shows them in priority order.
func TestF2PriorityOrder(t *testing.T) {
	lab := labtest.Start(t, crs)
	router := lab.Node("router")
	c := apply(t, router, `table ip f2 {
	chain security { type filter hook prerouting priority 50; policy accept; counter; }
	chain raw { type filter hook prerouting priority -300; policy accept; counter; }
	chain srcnat { type filter hook prerouting priority 100; policy accept; counter; }
	chain filter { type filter hook prerouting priority 0; policy accept; counter; }
	chain dstnat { type filter hook prerouting priority -100; policy accept; counter; }
	chain mangle { type filter hook prerouting priority -150; policy accept; counter; }
}`)
	tr, err := c.Trace(context.Background(), "udp dport 7010")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	labtest.SendUDP(t, lab.Node("client"), "198.18.1.1:7010")
	want := []string{"raw", "mangle", "dstnat", "filter", "security", "srcnat"}
	evs := collect(t, tr, func(evs []filter.TraceEvent) bool {
		n := 0
		for _, e := range evs {
			if e.Type == filter.TracePolicy {
				n++
			}
		}
		return n >= len(want)
	})
	var got []string
	for _, e := range evs {
		if e.Type == filter.TracePolicy {
			got = append(got, e.Chain)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chains in trace order (-want +got):\n%s", diff)
	}
}

// TestF3RuleOrder: EXPERIMENTS.md F3. A log rule before a drop rule: the trace shows
// rule 1 continuing and rule 2 dropping.
func TestF3RuleOrder(t *testing.T) {
	lab := labtest.Start(t, crs)
	router := lab.Node("router")
	c := apply(t, router, `table ip f3 {
	chain in {
		type filter hook input priority filter; policy accept;
		udp dport 7020 log prefix "f3: "
		udp dport 7020 drop
	}
}`)
	tr, err := c.Trace(context.Background(), "udp dport 7020")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	labtest.SendUDP(t, lab.Node("client"), "198.18.1.1:7020")
	evs := collect(t, tr, func(evs []filter.TraceEvent) bool {
		return len(evs) > 0 && evs[len(evs)-1].Verdict == "drop"
	})
	type step struct{ Rule, Verdict string }
	var got []step
	for _, e := range evs {
		if e.Type == filter.TraceRule {
			got = append(got, step{e.Rule, e.Verdict})
		}
	}
	want := []step{{`udp dport 7020 log prefix "f3: "`, "continue"}, {"udp dport 7020 drop", "drop"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules met in order (-want +got):\n%s", diff)
	}
}

func counter(t *testing.T, c *filter.Conn, table, chain, ruleSub string) uint64 {
	t.Helper()
	rows, err := c.Counters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Table == table && r.Chain == chain && (ruleSub == "" && r.Handle == 0 || ruleSub != "" && strings.Contains(r.Rule, ruleSub)) {
			return r.Packets
		}
	}
	t.Fatalf("no counter for %s/%s %q in %+v", table, chain, ruleSub, rows)
	return 0
}

// TestF4PolicyDrop: EXPERIMENTS.md F4. `policy drop` on forward blocks routing until an
// accept rule matches: a failing then succeeding connect, with counters before/after.
func TestF4PolicyDrop(t *testing.T) {
	lab := labtest.Start(t, crs)
	router, client := lab.Node("router"), lab.Node("client")
	listen(t, lab.Node("server"), "198.19.2.2:80")
	c := apply(t, router, `table inet f4 {
	chain forward {
		type filter hook forward priority filter; policy drop;
		counter
	}
}`)
	if conn, err := dial(client, "198.19.2.2:80", time.Second); err == nil {
		conn.Close()
		t.Fatal("connect through a policy-drop forward chain succeeded")
	} else if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("connect error = %v, want a timeout (the SYN is dropped silently)", err)
	}
	entered := counter(t, c, "f4", "forward", "counter packets")
	policy := counter(t, c, "f4", "forward", "")
	if entered == 0 || policy != entered {
		t.Fatalf("while dropping: %d packets entered forward, %d met the drop policy; want equal and > 0", entered, policy)
	}
	rs, err := c.ParseFor("add.nft", []byte("add table inet f4\nadd chain inet f4 forward\nadd rule inet f4 forward ip saddr 198.18.1.2 counter accept\nadd rule inet f4 forward ip daddr 198.18.1.2 accept\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	conn, err := dial(client, "198.19.2.2:80", 2*time.Second)
	if err != nil {
		t.Fatalf("connect after the accept rule: %v", err)
	}
	conn.Close()
	if n := counter(t, c, "f4", "forward", "ip saddr 198.18.1.2 counter"); n == 0 {
		t.Error("accept rule counted no packets")
	}
	if n := counter(t, c, "f4", "forward", "counter packets"); n <= entered {
		t.Errorf("forward chain entry counter %d after, %d before: want more", n, entered)
	}
	if n := counter(t, c, "f4", "forward", ""); n != policy {
		t.Errorf("policy counter went from %d to %d: no packet should meet the policy once accepted", policy, n)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestF6DropVersusReject: EXPERIMENTS.md F6. drop → the client times out; reject with
// tcp reset → ECONNREFUSED at once.
func TestF6DropVersusReject(t *testing.T) {
	lab := labtest.Start(t, crs)
	server, client := lab.Node("server"), lab.Node("client")
	apply(t, server, `table ip f6 {
	chain in {
		type filter hook input priority filter; policy accept;
		tcp dport 81 drop
		tcp dport 82 reject with tcp reset
	}
}`)
	_, err := dial(client, "198.19.2.2:81", time.Second)
	if !isTimeout(err) {
		t.Errorf("connect to dropped port: %v, want a timeout", err)
	}
	start := time.Now()
	_, err = dial(client, "198.19.2.2:82", 5*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect to rejected port: %v, want ECONNREFUSED", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("reject took %v, want an immediate RST", d)
	}
}

// TestF8Mangle: EXPERIMENTS.md F8. `ip ttl set` changes the TTL on the wire (seen by the
// server's socket), `meta mark set` changes the packet's mark (seen in later trace
// events).
func TestF8Mangle(t *testing.T) {
	lab := labtest.Start(t, crs)
	router, server := lab.Node("router"), lab.Node("server")
	c := apply(t, router, `table ip f8 {
	chain pre {
		type filter hook prerouting priority mangle; policy accept;
		udp dport 7030 meta mark set 0x2a
	}
	chain post {
		type filter hook postrouting priority mangle; policy accept;
		udp dport 7030 ip ttl set 5
	}
}`)
	var pc *ipv4.PacketConn
	if err := server.Do(func() error {
		l, err := net.ListenPacket("udp4", "198.19.2.2:7030")
		if err != nil {
			return err
		}
		pc = ipv4.NewPacketConn(l)
		return pc.SetControlMessage(ipv4.FlagTTL, true)
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tr, err := c.Trace(context.Background(), "udp dport 7030")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	labtest.SendUDP(t, lab.Node("client"), "198.19.2.2:7030")
	pc.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	_, cm, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("server read: %v", err)
	}
	if cm == nil || cm.TTL != 5 {
		t.Errorf("TTL at the server = %v, want 5 (set by the router, not 63)", cm)
	}
	evs := collect(t, tr, func(evs []filter.TraceEvent) bool {
		return len(evs) > 0 && evs[len(evs)-1].Chain == "post" && evs[len(evs)-1].Type == filter.TracePolicy
	})
	var marks []string
	for _, e := range evs {
		marks = append(marks, fmt.Sprintf("%s:%s:%#x", e.Chain, e.Type, e.Mark))
	}
	want := []string{"pre:rule:0x2a", "pre:policy:0x2a", "post:rule:0x2a", "post:policy:0x2a"}
	if diff := cmp.Diff(want, marks); diff != "" {
		t.Errorf("chain:event:mark in trace order (-want +got):\n%s", diff)
	}
}

var counterValues = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// TestTraceRuleText: every rule event carries the rule's text as `nft monitor trace`
// prints it, looked up in the node's ruleset by table, chain and handle, also for rules
// applied after tracing started and for a table deleted and created again (its rule
// handles start over, so old text under the same handle would be wrong).
func TestTraceRuleText(t *testing.T) {
	lab := labtest.Start(t, crs)
	router, client := lab.Node("router"), lab.Node("client")
	c, err := filter.ForNode(router)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.Trace(context.Background(), "udp dport 7040-7041")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	type step struct{ Chain, Hook, Rule, Verdict string }
	// steps sends one datagram to port and returns the rule events of its path.
	steps := func(port int) []step {
		labtest.SendUDP(t, client, fmt.Sprintf("198.19.2.2:%d", port))
		evs := collect(t, tr, func(evs []filter.TraceEvent) bool {
			p := pathFor(filter.GroupPaths(evs), port)
			return p != nil && p.Events[len(p.Events)-1].Chain == "post"
		})
		var got []step
		if p := pathFor(filter.GroupPaths(evs), port); p != nil {
			for _, e := range p.Events {
				if e.Type == filter.TraceRule {
					// Counter values are those of the snapshot, read around the
					// time the packet passed: 0 or 1.
					rule := counterValues.ReplaceAllString(e.Rule, "counter")
					got = append(got, step{e.Chain, e.Hook, rule, e.Verdict})
				}
			}
		}
		return got
	}
	// Applied right after the tracer took its snapshot of the (empty) ruleset.
	apply(t, router, `table ip tr {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ip saddr 198.18.1.2 jump sub
		udp dport 7040 counter accept
	}
	chain sub {
		udp dport 7040 meta mark set 0x2a
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth1" masquerade
	}
}`)
	want := []step{
		{"forward", "forward", "ip saddr 198.18.1.2 jump sub", "jump sub"},
		{"sub", "forward", "udp dport 7040 meta mark set 0x0000002a", "continue"},
		{"forward", "forward", "udp dport 7040 counter accept", "accept"},
		{"post", "postrouting", `oifname "eth1" masquerade`, "accept"},
	}
	if diff := cmp.Diff(want, steps(7040)); diff != "" {
		t.Errorf("rules met by the first packet (-want +got):\n%s", diff)
	}
	// The same table again with other rules: same chains, same handles.
	if err := c.DeleteTables(context.Background(), []*filter.Table{{Family: filter.FamilyIP, Name: "tr"}}); err != nil {
		t.Fatal(err)
	}
	apply(t, router, `table ip tr {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ip saddr 198.18.1.2 jump sub
		udp dport 7041 counter accept
	}
	chain sub {
		udp dport 7041 meta mark set 0x2b
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth1" snat to 198.19.2.1
	}
}`)
	want = []step{
		{"forward", "forward", "ip saddr 198.18.1.2 jump sub", "jump sub"},
		{"sub", "forward", "udp dport 7041 meta mark set 0x0000002b", "continue"},
		{"forward", "forward", "udp dport 7041 counter accept", "accept"},
		{"post", "postrouting", `oifname "eth1" snat to 198.19.2.1`, "accept"},
	}
	if diff := cmp.Diff(want, steps(7041)); diff != "" {
		t.Errorf("rules met by a packet after the table was made again (-want +got):\n%s", diff)
	}
}

// TestTracePolicyHeaders: in a base chain without rules, the kernel's first event (the
// one carrying the packet's headers and interfaces) is the end-of-chain sentinel,
// which pktlab does not deliver; the policy event that follows carries them instead,
// as `nft monitor trace` prints them for that chain.
func TestTracePolicyHeaders(t *testing.T) {
	lab := labtest.Start(t, crs)
	router := lab.Node("router")
	c := apply(t, router, `table ip empty {
	chain pre {
		type filter hook prerouting priority filter; policy accept;
	}
}`)
	tr, err := c.Trace(context.Background(), "udp dport 7050")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	labtest.SendUDP(t, lab.Node("client"), "198.18.1.1:7050")
	evs := collect(t, tr, func(evs []filter.TraceEvent) bool {
		return len(evs) > 0
	})
	type seen struct {
		Type       filter.TraceType
		Chain, Iif string
		Dport      int
	}
	var got []seen
	for _, e := range evs {
		got = append(got, seen{e.Type, e.Chain, e.IIFName, udpDport(e)})
	}
	if diff := cmp.Diff([]seen{{filter.TracePolicy, "pre", "eth0", 7050}}, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if len(evs) > 0 {
		want := fmt.Sprintf(`trace id %08x ip empty pre packet: iif "eth0" ether saddr `, evs[0].ID)
		if p := evs[0].PacketString(); !strings.HasPrefix(p, want) || !strings.Contains(p, " udp dport 7050 ") {
			t.Errorf("packet line %q, want it to start %q and hold udp dport 7050", p, want)
		}
	}
}
