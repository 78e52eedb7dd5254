package ktrace_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/sockdiag"
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
// CLOSING. The retransmitted FINs cross only when both ends' timers fire before
// either retransmission arrives (the same jiffy, nearly always); when one comes
// later, its FIN acknowledges the other's, and that end goes FIN_WAIT2 instead (seen
// once in CI). So the scenario runs on a fresh connection until the FINs cross, at
// most five times.
func TestSimultaneousClose(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab)
	for n := uint16(3); n < 8; n++ {
		if simultaneousClose(t, lab, recs, n) {
			return
		}
		t.Logf("connection %d: the FINs did not cross (an end went FIN_WAIT2)", n)
	}
	t.Fatal("in five connections the two FINs never crossed")
}

// simultaneousClose plays the scenario on connection n and checks both paths; false
// means the FINs did not cross.
func simultaneousClose(t *testing.T, lab *testlab.Lab, recs map[string]*recorder, n uint16) bool {
	a, b := lab.Node("a"), lab.Node("b")
	c, s, cli, srv := connected(t, lab, recs, n)
	drops := map[string]int{}
	for name, r := range recs {
		r.mu.Lock()
		drops[name] = len(r.events)
		r.mu.Unlock()
	}
	since := func(node string) func([]ktrace.Event) bool {
		base := drops[node]
		return func(evs []ktrace.Event) bool { return netfilterDrops(1)(evs[base:]) }
	}
	inputFilter(t, a, "tcp flags & fin == fin drop")
	inputFilter(t, b, "tcp flags & fin == fin drop")
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	recs["a"].wait(t, "FIN_WAIT1", reaches(toPort(srv.Port()), finWait1))
	recs["b"].wait(t, "FIN_WAIT1", reaches(childOf(cli.Port()), finWait1))
	recs["a"].wait(t, "its peer's FIN dropped", since("a"))
	recs["b"].wait(t, "its peer's FIN dropped", since("b"))
	inputFilter(t, a, "tcp flags & (fin | ack) == ack drop")
	inputFilter(t, b, "tcp flags & (fin | ack) == ack drop")
	left := func(pred func(*ktrace.StateChange) bool) func([]ktrace.Event) bool {
		return func(evs []ktrace.Event) bool {
			return reaches(pred, closing)(evs) || reaches(pred, finWait2)(evs) || reaches(pred, closed)(evs)
		}
	}
	aev := recs["a"].wait(t, "CLOSING or FIN_WAIT2", left(toPort(srv.Port())))
	bev := recs["b"].wait(t, "CLOSING or FIN_WAIT2", left(childOf(cli.Port())))
	crossed := reaches(toPort(srv.Port()), closing)(aev) && reaches(childOf(cli.Port()), closing)(bev)
	nft(t, a, "delete table inet pktlab_test")
	nft(t, b, "delete table inet pktlab_test")
	if !crossed {
		return false
	}
	aev = recs["a"].wait(t, "CLOSE", reaches(toPort(srv.Port()), closed))
	bev = recs["b"].wait(t, "CLOSE", reaches(childOf(cli.Port()), closed))
	if diff := cmp.Diff([]ktrace.State{closed, synSent, est, finWait1, closing, closed}, path(aev, socketOf(aev, toPort(srv.Port())))); diff != "" {
		t.Errorf("client path (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]ktrace.State{listenS, synRecv, est, finWait1, closing, closed}, path(bev, socketOf(bev, childOf(cli.Port())))); diff != "" {
		t.Errorf("server path (-want +got):\n%s", diff)
	}
	return true
}

// TestTimeWaitReACK: the client's ACK of the server's FIN is dropped on its way
// out, so the server, in LAST_ACK, retransmits its FIN; the client's timewait
// socket ACKs it again, and the server closes. The kernel shows the timewait
// socket at work: the retransmitted FIN is freed (NOT_SPECIFIED) by a socket in
// TIME_WAIT, and the dropped ACKs were sent by it.
func TestTimeWaitReACK(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab)
	a := lab.Node("a")
	c, s, cli, srv := connected(t, lab, recs, 4)
	s.SetKeepAlive(false) // no probes for the timewait socket to answer
	// Bare ACKs from the client, once it has sent its FIN: the ACK of the server's FIN.
	nft(t, a, "add table inet pktlab_test; add chain inet pktlab_test out { type filter hook output priority 0; }; "+
		"add rule inet pktlab_test out tcp sport 41004 tcp flags & (fin | syn | rst | ack) == ack counter drop")
	c.Close()
	// An orphaned socket in FIN_WAIT2 is handed to a timewait socket at once
	// (tcp_close: tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)), before the server's FIN.
	recs["a"].wait(t, "FIN_WAIT2 → CLOSE", reaches(toPort(srv.Port()), closed))
	s.Close()
	recs["a"].wait(t, "the ACK of the server's FIN dropped", netfilterDrops(1))
	nft(t, a, "delete table inet pktlab_test")
	bev := recs["b"].wait(t, "the server socket closed", reaches(childOf(cli.Port()), closed))
	child := socketOf(bev, childOf(cli.Port()))
	var fin *ktrace.Retransmit
	for _, ev := range bev {
		if r, ok := ev.(*ktrace.Retransmit); ok && r.Sock == child && r.State == lastAck && r.Flags.Has(header.TCPFlagFIN) {
			fin = r
			break
		}
	}
	if fin == nil {
		t.Fatalf("no retransmitted FIN in LAST_ACK on the server:\n%s", dump(bev))
	}
	reACKed := func(d *ktrace.Drop) bool {
		return d.SockState == sockdiag.TimeWait && d.SockTuple.Local == cli && d.Packet != nil &&
			d.Packet.Flags.Has(header.TCPFlagFIN) && d.Packet.Seq == fin.Seq
	}
	aev := recs["a"].wait(t, "the retransmitted FIN taken by the timewait socket", func(evs []ktrace.Event) bool { return has(evs, reACKed) })

	if diff := cmp.Diff([]ktrace.State{closed, synSent, est, finWait1, finWait2, closed}, path(aev, socketOf(aev, toPort(srv.Port())))); diff != "" {
		t.Errorf("client path (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]ktrace.State{listenS, synRecv, est, closeWait, lastAck, closed}, path(bev, child)); diff != "" {
		t.Errorf("server path (-want +got):\n%s", diff)
	}
	for _, ev := range bev {
		if e, ok := ev.(*ktrace.StateChange); ok && e.Sock == child && e.New == closed && e.Time.Before(fin.Time) {
			t.Errorf("server closed at %v, before its FIN retransmission at %v", e.Time, fin.Time)
		}
	}
	// The first dropped packet is the ACK of the server's FIN, from the timewait socket.
	for _, ev := range aev {
		if d, ok := ev.(*ktrace.Drop); ok && d.Reason == "NETFILTER_DROP" {
			if d.Packet == nil || d.Packet.SrcPort != cli.Port() || d.Packet.Flags != header.TCPFlagACK || d.Packet.Ack != fin.Seq+1 {
				t.Errorf("dropped packet %v, want the bare ACK of %d from port %d", d.Packet, fin.Seq+1, cli.Port())
			}
			if d.SockState != sockdiag.TimeWait {
				t.Errorf("dropped ACK's socket in %v, want TIME_WAIT", d.SockState)
			}
			break
		}
	}
}

// TestLingerZeroReset: close with SO_LINGER {on, 0} aborts: the client sends a RST
// and goes ESTABLISHED → CLOSE; the server receives it and does the same.
func TestLingerZeroReset(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab)
	c, _, cli, srv := connected(t, lab, recs, 5)
	if err := c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	aev := recs["a"].wait(t, "CLOSE", reaches(toPort(srv.Port()), closed))
	bev := recs["b"].wait(t, "CLOSE", reaches(childOf(cli.Port()), closed))
	client, child := socketOf(aev, toPort(srv.Port())), socketOf(bev, childOf(cli.Port()))
	if diff := cmp.Diff([]ktrace.State{closed, synSent, est, closed}, path(aev, client)); diff != "" {
		t.Errorf("client path (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]ktrace.State{listenS, synRecv, est, closed}, path(bev, child)); diff != "" {
		t.Errorf("server path (-want +got):\n%s", diff)
	}
	// tcp_disconnect moves the socket to CLOSE, then sends the RST
	// (tcp_send_active_reset with SK_RST_REASON_TCP_STATE).
	if !has(aev, func(r *ktrace.Reset) bool {
		return r.Sent && r.Sock == client && r.State == closed && r.Reason == "TCP_STATE" && r.Local == cli && r.Remote == srv && r.Packet == nil
	}) {
		t.Errorf("no RST sent by the client socket, reason TCP_STATE:\n%s", dump(aev))
	}
	if !has(bev, func(r *ktrace.Reset) bool { return !r.Sent && r.Sock == child && r.State == est }) {
		t.Errorf("no RST received by the server socket in ESTABLISHED:\n%s", dump(bev))
	}
}

// TestClosedPortReset: a SYN to a port nobody listens on is answered with a RST
// that no socket sends (reason NO_SOCKET), and the SYN is dropped with NO_SOCKET.
func TestClosedPortReset(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab)
	a := lab.Node("a")
	srv, cli := netip.MustParseAddrPort("198.18.0.2:7006"), netip.MustParseAddrPort("198.18.0.1:41006")
	if _, err := dial(a, cli, srv); err == nil {
		t.Fatal("connect to a closed port succeeded")
	}
	sentRST := func(r *ktrace.Reset) bool {
		return r.Sent && r.Sock == 0 && r.Reason == "NO_SOCKET" && r.Local == srv && r.Remote == cli &&
			r.Packet != nil && r.Packet.Flags == header.TCPFlagSYN
	}
	bev := recs["b"].wait(t, "RST sent for the SYN", func(evs []ktrace.Event) bool { return has(evs, sentRST) })
	if !has(bev, func(d *ktrace.Drop) bool {
		return d.Reason == "NO_SOCKET" && d.Packet != nil && d.Packet.DstPort == srv.Port() && d.Packet.Flags == header.TCPFlagSYN
	}) {
		t.Errorf("no NO_SOCKET drop of the SYN:\n%s", dump(bev))
	}
	aev := recs["a"].wait(t, "CLOSE", reaches(toPort(srv.Port()), closed))
	client := socketOf(aev, toPort(srv.Port()))
	if diff := cmp.Diff([]ktrace.State{closed, synSent, closed}, path(aev, client)); diff != "" {
		t.Errorf("client path (-want +got):\n%s", diff)
	}
	if !has(aev, func(r *ktrace.Reset) bool { return !r.Sent && r.Sock == client && r.State == synSent }) {
		t.Errorf("no RST received in SYN_SENT:\n%s", dump(aev))
	}
}
