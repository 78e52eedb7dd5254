package ktrace_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/testlab"
)

// connectNB starts a non-blocking connect from local to remote inside node n and
// returns the socket, closed when the test ends.
func connectNB(t *testing.T, n *testlab.Node, local, remote netip.AddrPort) int {
	t.Helper()
	var fd int
	err := n.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: local.Addr().As4(), Port: int(local.Port())}); err != nil {
			return err
		}
		err = unix.Connect(fd, &unix.SockaddrInet4{Addr: remote.Addr().As4(), Port: int(remote.Port())})
		if err == unix.EINPROGRESS {
			err = nil
		}
		return err
	})
	if err != nil {
		t.Fatalf("connect %s > %s in %s: %v", local, remote, n.Name(), err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func netfilterDrops(n int) func([]ktrace.Event) bool {
	return func(evs []ktrace.Event) bool {
		c := 0
		for _, ev := range evs {
			if d, ok := ev.(*ktrace.Drop); ok && d.Reason == "NETFILTER_DROP" {
				c++
			}
		}
		return c >= n
	}
}

// inputFilter replaces node n's test table with one input rule.
func inputFilter(t *testing.T, n *testlab.Node, rule string) {
	nft(t, n, "add table inet pktlab_test; flush table inet pktlab_test; "+
		"add chain inet pktlab_test in { type filter hook input priority 0; }; "+
		"add rule inet pktlab_test in "+rule)
}

// TestSimultaneousOpen: both ends connect to each other and each SYN reaches the
// other end in SYN_SENT. nftables makes the crossing certain: first every SYN is
// dropped until both ends are in SYN_SENT, then SYN-ACKs are dropped until both
// have taken the other's SYN (SYN_SENT → SYN_RECV), then nothing.
func TestSimultaneousOpen(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab)
	a, b := lab.Node("a"), lab.Node("b")
	ea, eb := netip.MustParseAddrPort("198.18.0.1:5001"), netip.MustParseAddrPort("198.18.0.2:6001")
	inputFilter(t, a, "tcp flags & (syn | ack) == syn drop")
	inputFilter(t, b, "tcp flags & (syn | ack) == syn drop")
	connectNB(t, a, ea, eb)
	connectNB(t, b, eb, ea)
	recs["a"].wait(t, "its peer's SYN dropped", netfilterDrops(1))
	recs["b"].wait(t, "its peer's SYN dropped", netfilterDrops(1))
	inputFilter(t, a, "tcp flags & (syn | ack) == syn | ack drop")
	inputFilter(t, b, "tcp flags & (syn | ack) == syn | ack drop")
	recs["a"].wait(t, "SYN_RECV", reaches(toPort(eb.Port()), synRecv))
	recs["b"].wait(t, "SYN_RECV", reaches(toPort(ea.Port()), synRecv))
	nft(t, a, "delete table inet pktlab_test")
	nft(t, b, "delete table inet pktlab_test")
	want := []ktrace.State{closed, synSent, synRecv, est}
	for _, end := range []struct {
		node string
		peer uint16
	}{{"a", eb.Port()}, {"b", ea.Port()}} {
		evs := recs[end.node].wait(t, "ESTABLISHED", reaches(toPort(end.peer), est))
		if diff := cmp.Diff(want, path(evs, socketOf(evs, toPort(end.peer)))); diff != "" {
			t.Errorf("node %s path (-want +got):\n%s", end.node, diff)
		}
	}
}

// TestSimultaneousClose: both ends send FIN before either has seen the other's:
// ESTABLISHED → FIN_WAIT1 → CLOSING → CLOSE (the hand-over to TIME_WAIT) on both.
// FINs are dropped until both are in FIN_WAIT1, then bare ACKs until both are in
// CLOSING.
func TestSimultaneousClose(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab)
	a, b := lab.Node("a"), lab.Node("b")
	srv, cli := netip.MustParseAddrPort("198.18.0.2:7003"), netip.MustParseAddrPort("198.18.0.1:41003")
	ln := listen(t, b, srv)
	c, err := dial(a, cli, srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs["b"].wait(t, "ESTABLISHED", reaches(childOf(cli.Port()), est))
	inputFilter(t, a, "tcp flags & fin == fin drop")
	inputFilter(t, b, "tcp flags & fin == fin drop")
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := s.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	recs["a"].wait(t, "FIN_WAIT1", reaches(toPort(srv.Port()), finWait1))
	recs["b"].wait(t, "FIN_WAIT1", reaches(childOf(cli.Port()), finWait1))
	recs["a"].wait(t, "its peer's FIN dropped", netfilterDrops(1))
	recs["b"].wait(t, "its peer's FIN dropped", netfilterDrops(1))
	inputFilter(t, a, "tcp flags & (fin | ack) == ack drop")
	inputFilter(t, b, "tcp flags & (fin | ack) == ack drop")
	recs["a"].wait(t, "CLOSING", reaches(toPort(srv.Port()), closing))
	recs["b"].wait(t, "CLOSING", reaches(childOf(cli.Port()), closing))
	nft(t, a, "delete table inet pktlab_test")
	nft(t, b, "delete table inet pktlab_test")
	aev := recs["a"].wait(t, "CLOSE", reaches(toPort(srv.Port()), closed))
	bev := recs["b"].wait(t, "CLOSE", reaches(childOf(cli.Port()), closed))
	if diff := cmp.Diff([]ktrace.State{closed, synSent, est, finWait1, closing, closed}, path(aev, socketOf(aev, toPort(srv.Port())))); diff != "" {
		t.Errorf("client path (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]ktrace.State{listenS, synRecv, est, finWait1, closing, closed}, path(bev, socketOf(bev, childOf(cli.Port())))); diff != "" {
		t.Errorf("server path (-want +got):\n%s", diff)
	}
}
