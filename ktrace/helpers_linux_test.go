package ktrace_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/sockdiag"
	"github.com/pktlab/pktlab/testlab"
)

const twoHosts = `
nodes:
  a:
    interfaces:
      eth0: [198.18.0.1/24, 2001:db8::1/64]
  b:
    interfaces:
      eth0: [198.18.0.2/24, 2001:db8::2/64]
links:
  - [a:eth0, b:eth0]
`

// failAfter bounds a wait that should end by an event: it is not a sync point, only
// how long a test waits before it reports what it saw and fails.
const failAfter = 90 * time.Second

// recorder keeps every event of one subscription and wakes waiters on each.
type recorder struct {
	node    string
	mu      sync.Mutex
	events  []ktrace.Event
	changed chan struct{} // closed and replaced on every event
}

func record(sub *ktrace.Subscription, node string) *recorder {
	r := &recorder{node: node, changed: make(chan struct{})}
	go func() {
		for ev := range sub.Events() {
			r.mu.Lock()
			r.events = append(r.events, ev)
			close(r.changed)
			r.changed = make(chan struct{})
			r.mu.Unlock()
		}
	}()
	return r
}

// wait returns the events once done accepts them.
func (r *recorder) wait(t *testing.T, what string, done func([]ktrace.Event) bool) []ktrace.Event {
	t.Helper()
	deadline := time.After(failAfter)
	for {
		r.mu.Lock()
		evs := r.events[:len(r.events):len(r.events)] // appends never touch it
		ch := r.changed
		r.mu.Unlock()
		if done(evs) {
			return evs
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("node %s: no %s after %v; events:\n%s", r.node, what, failAfter, dump(evs))
		}
	}
}

func (r *recorder) snapshot() []ktrace.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[:len(r.events):len(r.events)]
}

func dump(evs []ktrace.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s\n", describe(ev))
	}
	return b.String()
}

func describe(ev ktrace.Event) string {
	h := ev.EventHeader()
	switch e := ev.(type) {
	case *ktrace.StateChange:
		return fmt.Sprintf("%s %x state %v %v -> %v (proto %d)", h.Node, h.Sock, e.Tuple, e.Old, e.New, e.Protocol)
	case *ktrace.Drop:
		return fmt.Sprintf("%s drop %s %v sock %v %v", h.Node, e.Reason, e.Packet, e.SockState, e.SockTuple)
	case *ktrace.Reset:
		return fmt.Sprintf("%s %x reset sent=%v %v %v %s %v", h.Node, h.Sock, e.Sent, e.Tuple, e.State, e.Reason, e.Packet)
	case *ktrace.Retransmit:
		return fmt.Sprintf("%s %x retransmit %v %v seq %d flags %v ca %v", h.Node, h.Sock, e.Tuple, e.State, e.Seq, e.Flags, e.CA)
	}
	return fmt.Sprintf("%s %x %T %+v", h.Node, h.Sock, ev, ev)
}

// traceLab opens a tracer closed at the end of the test and records every node.
func traceLab(t *testing.T, opts *ktrace.Options, labs ...*testlab.Lab) (*ktrace.Tracer, map[string]*recorder) {
	t.Helper()
	tr, err := ktrace.Open(opts)
	if err != nil {
		t.Fatalf("open tracer: %v", err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("close tracer: %v", err)
		}
	})
	recs := map[string]*recorder{}
	for i, lab := range labs {
		for _, n := range lab.Nodes() {
			sub, err := tr.SubscribeNode(n)
			if err != nil {
				t.Fatal(err)
			}
			name := n.Name()
			if len(labs) > 1 {
				name = fmt.Sprintf("%d/%s", i+1, n.Name())
			}
			recs[name] = record(sub, name)
		}
	}
	return tr, recs
}

// states returns the TCP state changes (MPTCP's own are left out).
func states(evs []ktrace.Event) []*ktrace.StateChange {
	var out []*ktrace.StateChange
	for _, ev := range evs {
		if s, ok := ev.(*ktrace.StateChange); ok && s.Protocol == 6 {
			out = append(out, s)
		}
	}
	return out
}

// socketOf returns the socket of the first TCP state change pred accepts, or 0.
func socketOf(evs []ktrace.Event, pred func(*ktrace.StateChange) bool) uint64 {
	for _, s := range states(evs) {
		if pred(s) {
			return s.Sock
		}
	}
	return 0
}

// path is socket sk's states: its first change's Old, then every New.
func path(evs []ktrace.Event, sk uint64) []ktrace.State {
	var out []ktrace.State
	for _, s := range states(evs) {
		if s.Sock != sk {
			continue
		}
		if out == nil {
			out = append(out, s.Old)
		}
		out = append(out, s.New)
	}
	return out
}

// reaches reports whether socket sk (found by pred) has a path that ends in last.
func reaches(pred func(*ktrace.StateChange) bool, last ktrace.State) func([]ktrace.Event) bool {
	return func(evs []ktrace.Event) bool {
		sk := socketOf(evs, pred)
		p := path(evs, sk)
		return sk != 0 && len(p) > 1 && p[len(p)-1] == last
	}
}

func toPort(p uint16) func(*ktrace.StateChange) bool {
	return func(s *ktrace.StateChange) bool { return s.Remote.Port() == p }
}

func childOf(p uint16) func(*ktrace.StateChange) bool {
	return func(s *ktrace.StateChange) bool {
		return s.Old == sockdiag.Listen && s.New == sockdiag.SynRecv && s.Remote.Port() == p
	}
}

// listen opens a plain TCP listener in node n (Go's net.Listen would make it MPTCP).
func listen(t *testing.T, n *testlab.Node, addr netip.AddrPort) net.Listener {
	t.Helper()
	var ln net.Listener
	err := n.Do(func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", addr.String())
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, n.Name(), err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial connects from local to remote inside node n.
func dial(n *testlab.Node, local, remote netip.AddrPort) (*net.TCPConn, error) {
	var c net.Conn
	err := n.Do(func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(local)}
		var err error
		c, err = d.Dial("tcp", remote.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// nft runs an nft script inside node n.
func nft(t *testing.T, n *testlab.Node, script string) {
	t.Helper()
	if out, err := n.Exec(context.Background(), "nft", script); err != nil {
		t.Fatalf("nft in %s: %v: %s", n.Name(), err, out)
	}
}

func has[T ktrace.Event](evs []ktrace.Event, pred func(T) bool) bool {
	for _, ev := range evs {
		if e, ok := ev.(T); ok && pred(e) {
			return true
		}
	}
	return false
}

// connected opens a connection from node a (port 41000+n) to node b (port 7000+n)
// and waits until the server's child is ESTABLISHED. Both ends close with the test.
func connected(t *testing.T, lab *testlab.Lab, recs map[string]*recorder, n uint16) (c, s *net.TCPConn, cli, srv netip.AddrPort) {
	t.Helper()
	srv = netip.AddrPortFrom(netip.MustParseAddr("198.18.0.2"), 7000+n)
	cli = netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), 41000+n)
	ln := listen(t, lab.Node("b"), srv)
	c, err := dial(lab.Node("a"), cli, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s = sc.(*net.TCPConn)
	t.Cleanup(func() { s.Close() })
	recs["b"].wait(t, "ESTABLISHED", reaches(childOf(cli.Port()), est))
	return c, s, cli, srv
}

// shortConnections makes n connections from node a to a server on node b at srv,
// each closed at once by both ends.
func shortConnections(t *testing.T, lab *testlab.Lab, srv netip.AddrPort, n int) {
	t.Helper()
	ln := listen(t, lab.Node("b"), srv)
	go func() {
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			s.Close()
		}
	}()
	err := lab.Node("a").Do(func() error {
		for i := range n {
			c, err := net.Dial("tcp", srv.String())
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
