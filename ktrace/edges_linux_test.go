package ktrace_test

import (
	"context"
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
// other end in SYN_SENT. The kernel holds both SYNs in its neighbour queues until
// both ends have sent theirs (neighbourHold), so they cross for certain.
func TestSimultaneousOpen(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab)
	a, b := lab.Node("a"), lab.Node("b")
	ea, eb := netip.MustParseAddrPort("198.18.0.1:5001"), netip.MustParseAddrPort("198.18.0.2:6001")
	release := neighbourHold(t, lab)
	// connect returns once its SYN is queued: it went out in the syscall.
	connectNB(t, a, ea, eb)
	connectNB(t, b, eb, ea)
	release("a")
	release("b")
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
// The kernel holds both FINs in its neighbour queues until both ends have sent
// theirs (neighbourHold). Dropping them with nftables instead left the crossing to
// the retransmission timers: when one end's fired a jiffy later, its FIN
// acknowledged the other's, and that end went FIN_WAIT2 (CI failed so, five
// connections in a row).
func TestSimultaneousClose(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab)
	c, s, cli, srv := connected(t, lab, recs, 3)
	release := neighbourHold(t, lab)
	// shutdown returns once its FIN is queued: it went out in the syscall.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	release("a")
	release("b")
	aev := recs["a"].wait(t, "CLOSE", reaches(toPort(srv.Port()), closed))
	bev := recs["b"].wait(t, "CLOSE", reaches(childOf(cli.Port()), closed))
	if diff := cmp.Diff([]ktrace.State{closed, synSent, est, finWait1, closing, closed}, path(aev, socketOf(aev, toPort(srv.Port())))); diff != "" {
		t.Errorf("client path (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]ktrace.State{listenS, synRecv, est, finWait1, closing, closed}, path(bev, socketOf(bev, childOf(cli.Port())))); diff != "" {
		t.Errorf("server path (-want +got):\n%s", diff)
	}
}

// neighbourHold holds every IPv4 packet nodes a and b send each other in the
// kernel's own queue: the neighbour entry's, while it resolves. ARP is dropped on
// input in both nodes and their neighbour tables are flushed, so the next IPv4
// packet either end sends waits in an INCOMPLETE entry (the solicitations' window
// is made 60 s, so that load cannot end it). release(node) writes the peer's
// address into node's table, and the kernel sends what it held, in order. Two
// segments sent before either end is released cross for certain: no timer and no
// scheduling decides it.
func neighbourHold(t *testing.T, lab *testlab.Lab) (release func(node string)) {
	t.Helper()
	peers := map[string]string{"a": "b", "b": "a"}
	for name := range peers {
		n := lab.Node(name)
		if err := n.SetSysctl("net.ipv4.neigh.eth0.retrans_time_ms", "20000"); err != nil {
			t.Fatal(err)
		}
		nft(t, n, "add table arp pktlab_hold; add chain arp pktlab_hold in { type filter hook input priority 0; }; "+
			"add rule arp pktlab_hold in drop")
		if out, err := n.Exec(context.Background(), "ip", "-4", "neigh", "flush", "dev", "eth0"); err != nil {
			t.Fatalf("ip neigh flush in %s: %v: %s", name, err, out)
		}
	}
	return func(node string) {
		t.Helper()
		it, err := lab.Node(peers[node]).Interface("eth0")
		if err != nil {
			t.Fatal(err)
		}
		var addr netip.Addr
		for _, p := range it.Addrs {
			if p.Addr().Is4() {
				addr = p.Addr()
			}
		}
		if out, err := lab.Node(node).Exec(context.Background(), "ip", "neigh", "replace", addr.String(),
			"lladdr", it.MAC.String(), "nud", "permanent", "dev", "eth0"); err != nil {
			t.Fatalf("ip neigh replace in %s: %v: %s", node, err, out)
		}
	}
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
	// (tcp_send_active_reset with SK_RST_REASON_TCP_STATE): two records, so the RST
	// may be read after the CLOSE that ended the wait above; wait for it too (seen
	// twice beside stress-ng: the snapshot at CLOSE had no RST yet).
	rst := func(r *ktrace.Reset) bool {
		return r.Sent && r.Sock == client && r.State == closed && r.Reason == "TCP_STATE" && r.Local == cli && r.Remote == srv && r.Packet == nil
	}
	recs["a"].wait(t, "the RST sent by the client socket, reason TCP_STATE", func(evs []ktrace.Event) bool { return has(evs, rst) })
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
	recs["b"].wait(t, "RST sent for the SYN", func(evs []ktrace.Event) bool { return has(evs, sentRST) })
	// tcp_v4_rcv sends the RST, then frees the SYN: the drop is the later record.
	noSocket := func(d *ktrace.Drop) bool {
		return d.Reason == "NO_SOCKET" && d.Packet != nil && d.Packet.DstPort == srv.Port() && d.Packet.Flags == header.TCPFlagSYN
	}
	recs["b"].wait(t, "the NO_SOCKET drop of the SYN", func(evs []ktrace.Event) bool { return has(evs, noSocket) })
	aev := recs["a"].wait(t, "CLOSE", reaches(toPort(srv.Port()), closed))
	client := socketOf(aev, toPort(srv.Port()))
	if diff := cmp.Diff([]ktrace.State{closed, synSent, closed}, path(aev, client)); diff != "" {
		t.Errorf("client path (-want +got):\n%s", diff)
	}
	if !has(aev, func(r *ktrace.Reset) bool { return !r.Sent && r.Sock == client && r.State == synSent }) {
		t.Errorf("no RST received in SYN_SENT:\n%s", dump(aev))
	}
}
