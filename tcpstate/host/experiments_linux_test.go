package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/sockdiag"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/tcpstate/clock"
	"github.com/pktlab/pktlab/testlab"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

func statesEqual(got []tcpstate.State, want ...tcpstate.State) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestLabHandshakeUserspaceServer(t *testing.T) {
	// C1 with a kernel client and the userspace server: LISTEN → SYN-RECEIVED →
	// ESTABLISHED.
	lab := labtest.Start(t, twoNodes)
	for _, f := range families() {
		t.Run(f.name, func(t *testing.T) {
			h, rec := startHost(t, lab.Node("us"), Config{})
			us, _ := pair(t, h, lab.Node("kern"), f.kern, f.us, false, nil)
			if got := rec.states(us.key.local); !statesEqual(got, tcpstate.Listen, tcpstate.SynReceived, tcpstate.Established) {
				t.Errorf("server states %v, want LISTEN, SYN-RECEIVED, ESTABLISHED", got)
			}
			in, out := rec.segments(false), rec.segments(true)
			if in[0].Flags != header.TCPFlagSYN || out[0].Flags != header.TCPFlagSYN|header.TCPFlagACK || out[0].Ack != in[0].Seq+1 ||
				in[1].Flags != header.TCPFlagACK || in[1].Ack != out[0].Seq+1 {
				t.Errorf("handshake %v / %v / %v", &in[0], &out[0], &in[1])
			}
		})
	}
}

func TestLabConnectionRefused(t *testing.T) {
	// C2 both ways: a SYN to a port with no listener draws RST/ACK with ack = SYN
	// seq + 1, and connect fails with ECONNREFUSED.
	lab := labtest.Start(t, twoNodes)
	for _, f := range families() {
		t.Run(f.name+"/userspace client", func(t *testing.T) {
			h, rec := startHost(t, lab.Node("us"), Config{})
			_, err := h.Dial(ctxT(t, failAfter), netip.AddrPortFrom(f.kern, 1))
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial: %v, want ECONNREFUSED", err)
			}
			syn, rst := rec.segments(true)[0], rec.segments(false)[0]
			if rst.Flags != header.TCPFlagRST|header.TCPFlagACK || rst.Ack != syn.Seq+1 {
				t.Errorf("reply %v to SYN seq %d", &rst, syn.Seq)
			}
		})
		t.Run(f.name+"/kernel client", func(t *testing.T) {
			_, rec := startHost(t, lab.Node("us"), Config{})
			_, err := kernelDial(ctxT(t, failAfter), lab.Node("kern"), netip.AddrPortFrom(f.us, 1).String())
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("kernel dial: %v, want ECONNREFUSED", err)
			}
			out := rec.segments(true)
			if len(out) != 1 || out[0].Flags != header.TCPFlagRST|header.TCPFlagACK || out[0].Seq != 0 {
				t.Errorf("userspace reply %v", out)
			}
		})
	}
}

func TestLabStrayACKDrawsRST(t *testing.T) {
	// C6: a segment for no connection gets a RST whose seq is the segment's ack.
	// The kernel's own RST is the reference: the same crafted ACK goes to both.
	lab := labtest.Start(t, twoNodes)
	_, rec := startHost(t, lab.Node("us"), Config{})
	kern := lab.Node("kern")
	ipc, err := rawsockOpenIP(kern)
	if err != nil {
		t.Fatal(err)
	}
	defer ipc.Close()
	if err := sendStrayACK(ipc, kern4, us4, 4242, 5555, 1000, 77777); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "reply to the stray ACK", func([]Event) bool { return len(rec.segments(true)) > 0 })
	if out := rec.segments(true); out[0].Flags != header.TCPFlagRST || out[0].Seq != 77777 {
		t.Fatalf("reply %v, want RST seq 77777", &out[0])
	}
}

func TestLabSimultaneousOpen(t *testing.T) {
	// C5, userspace ↔ kernel: both send SYN before seeing the other's; both go
	// SYN-SENT → SYN-RECEIVED → ESTABLISHED. The userspace SYN is held (the host is
	// paused in BeforeSend) until the kernel's SYN is on the wire.
	lab := labtest.Start(t, twoNodes)
	kern := lab.Node("kern")
	kconn := make(chan net.Conn, 1)
	held := false
	cfg := Config{BeforeSend: func(e Event) error {
		if e.TCP.Segment.Flags == header.TCPFlagSYN && !held {
			held = true
			go func() {
				var c net.Conn
				kern.Do(func() (err error) {
					d := net.Dialer{LocalAddr: &net.TCPAddr{IP: kern4.AsSlice(), Port: 7000}}
					c, err = d.Dial("tcp", "198.18.1.10:7001")
					return
				})
				kconn <- c
			}()
			// connect(2) sends the SYN as it enters SYN_SENT, under the socket lock,
			// so our SYN meets a socket that has sent its own.
			return labtest.Poll(kernelIn(kern, 7000, sockdiag.SynSent))
		}
		return nil
	}}
	h, rec := startHost(t, lab.Node("us"), cfg)
	c, err := h.DialWith(ctxT(t, failAfter), netip.AddrPortFrom(kern4, 7000), &DialOptions{LocalPort: 7001})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	k := <-kconn
	if k == nil {
		t.Fatal("kernel connect failed")
	}
	defer k.Close()
	if got := rec.states(c.key.local); !statesEqual(got, tcpstate.SynSent, tcpstate.SynReceived, tcpstate.Established) {
		t.Errorf("userspace states %v, want SYN-SENT, SYN-RECEIVED, ESTABLISHED", got)
	}
	out, in := rec.segments(true), rec.segments(false)
	if len(out) < 2 || len(in) < 2 || out[0].Flags != header.TCPFlagSYN || in[0].Flags != header.TCPFlagSYN ||
		out[1].Flags != header.TCPFlagSYN|header.TCPFlagACK || in[1].Flags != header.TCPFlagSYN|header.TCPFlagACK {
		t.Errorf("want SYN, SYN, SYN-ACK, SYN-ACK; sent %v received %v", out, in)
	}
	k.Write([]byte("x"))
	c.SetReadDeadline(time.Now().Add(failAfter))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Errorf("data after simultaneous open: %v", err)
	}
}

// kernelStates lists the kernel's TCP sockets in node n matching local or remote.
func kernelStates(t *testing.T, n *testlab.Node, peer netip.AddrPort) []sockdiag.State {
	s, err := kernelStatesOf(n, peer)
	if err != nil {
		t.Fatalf("sock_diag: %v", err)
	}
	return s
}

// kernelStatesOf returns the states of n's sockets connected to peer.
func kernelStatesOf(n *testlab.Node, peer netip.AddrPort) ([]sockdiag.State, error) {
	socks, err := sockdiag.ListAt(n.NetNSFd())
	var s []sockdiag.State
	for _, k := range socks {
		if k.Remote == peer {
			s = append(s, k.State)
		}
	}
	return s, err
}

// kernelIn is a labtest.Poll condition: a socket of n bound to local port port is
// in state st.
func kernelIn(n *testlab.Node, port uint16, st sockdiag.State) func() (bool, error) {
	return func() (bool, error) {
		socks, err := sockdiag.ListAt(n.NetNSFd())
		return slices.ContainsFunc(socks, func(k sockdiag.Socket) bool { return k.Local.Port() == port && k.State == st }), err
	}
}

// settled waits until none of n's sockets connected to peer is in a passing state,
// one that ends when a segment is processed: what sock_diag shows next is settled.
func settled(t *testing.T, n *testlab.Node, peer netip.AddrPort, passing ...sockdiag.State) {
	t.Helper()
	labtest.Until(t, fmt.Sprintf("the kernel's end to leave %v", passing), func() (bool, error) {
		ks, err := kernelStatesOf(n, peer)
		return err == nil && !slices.ContainsFunc(ks, func(s sockdiag.State) bool { return contains(passing, s) }), err
	})
}

func TestLabClose(t *testing.T) {
	// E1/E2/E3: four-way close, from either side; TIME-WAIT only on the closer;
	// the userspace TIME-WAIT lasts what it was configured to.
	lab := labtest.Start(t, twoNodes)
	kern := lab.Node("kern")
	for _, f := range families() {
		t.Run(f.name+"/userspace closes", func(t *testing.T) {
			// The host runs on a manual clock: nothing in this close waits for a
			// timer of its own until TIME-WAIT, whose length is then exact.
			clk := clock.NewManual(t0)
			h, rec := startHost(t, lab.Node("us"), Config{Clock: clk, TCP: tcpstate.Config{TimeWait: time.Second}})
			us, k := pair(t, h, kern, f.kern, f.us, true, nil)
			us.Close()
			k.SetReadDeadline(time.Now().Add(failAfter))
			if n, err := k.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("kernel read %d, %v; want EOF", n, err)
			}
			k.Close()
			waitState(t, rec, us, tcpstate.TimeWait)
			if ks := kernelStates(t, kern, us.key.local); contains(ks, sockdiag.TimeWait) {
				t.Errorf("kernel (passive closer) has TIME_WAIT: %v", ks)
			}
			// Setting the clock runs the host's timers that fall due; a timer it
			// arms later for a time already past runs at once (ResetAt), so the
			// host catches up with the clock however it is scheduled.
			twStart := stateTime(rec, us, tcpstate.TimeWait)
			clk.Set(twStart.Add(999 * time.Millisecond))
			if st := us.State(); st != tcpstate.TimeWait {
				t.Fatalf("%v 1 ms before TIME-WAIT ends", st)
			}
			clk.Set(twStart.Add(time.Second))
			waitState(t, rec, us, tcpstate.Closed)
			if d := stateTime(rec, us, tcpstate.Closed).Sub(twStart); d != time.Second {
				t.Errorf("TIME-WAIT lasted %v on the host's clock, want 1 s", d)
			}
			want := []tcpstate.State{tcpstate.SynSent, tcpstate.Established, tcpstate.FinWait1, tcpstate.FinWait2, tcpstate.TimeWait, tcpstate.Closed}
			if got := rec.states(us.key.local); !statesEqual(got, want...) {
				t.Errorf("states %v, want %v", got, want)
			}
		})
		t.Run(f.name+"/kernel closes", func(t *testing.T) {
			h, rec := startHost(t, lab.Node("us"), Config{})
			us, k := pair(t, h, kern, f.kern, f.us, false, nil)
			k.Close()
			us.SetReadDeadline(time.Now().Add(failAfter))
			if n, err := us.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("userspace read %d, %v; want EOF", n, err)
			}
			us.Close()
			waitState(t, rec, us, tcpstate.Closed)
			// The kernel acknowledges our FIN just before it replaces the socket by
			// its TIME_WAIT twin (tcp_fin in net/ipv4/tcp_input.c).
			settled(t, kern, us.key.local, sockdiag.FinWait1, sockdiag.FinWait2)
			if ks := kernelStates(t, kern, us.key.local); !contains(ks, sockdiag.TimeWait) {
				t.Errorf("kernel (active closer) states %v, want TIME_WAIT", ks)
			}
			want := []tcpstate.State{tcpstate.Listen, tcpstate.SynReceived, tcpstate.Established, tcpstate.CloseWait, tcpstate.LastAck, tcpstate.Closed}
			if got := rec.states(us.key.local); !statesEqual(got, want...) {
				t.Errorf("states %v, want %v", got, want)
			}
		})
	}
}

func contains(s []sockdiag.State, x sockdiag.State) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestLabSimultaneousClose(t *testing.T) {
	// E5: both FINs cross: FIN-WAIT-1 → CLOSING → TIME-WAIT. The userspace FIN is
	// held until the kernel has sent its own.
	lab := labtest.Start(t, twoNodes)
	kern := lab.Node("kern")
	var k net.Conn
	var us *Conn
	held := false
	cfg := Config{TCP: tcpstate.Config{TimeWait: time.Second}, BeforeSend: func(e Event) error {
		if e.TCP.Segment.Flags&header.TCPFlagFIN != 0 && !held {
			held = true
			k.Close()
			// close(2) sends the FIN as the socket enters FIN_WAIT1; wait for that in
			// case the close itself was deferred behind a reader of k.
			return labtest.Poll(func() (bool, error) {
				ks, err := kernelStatesOf(kern, us.key.local)
				return err == nil && len(ks) > 0 && !contains(ks, sockdiag.Established), err
			})
		}
		return nil
	}}
	h, rec := startHost(t, lab.Node("us"), cfg)
	us, k = pair(t, h, kern, kern4, us4, true, nil)
	us.Close()
	waitState(t, rec, us, tcpstate.TimeWait)
	want := []tcpstate.State{tcpstate.SynSent, tcpstate.Established, tcpstate.FinWait1, tcpstate.Closing, tcpstate.TimeWait}
	if got := rec.states(us.key.local); !statesEqual(got, want...) {
		t.Errorf("states %v, want %v", got, want)
	}
	if ks := kernelStates(t, lab.Node("kern"), us.key.local); !contains(ks, sockdiag.TimeWait) {
		t.Errorf("kernel states %v, want TIME_WAIT (it closed simultaneously)", ks)
	}
}

func TestLabFINRetransmittedIntoTimeWait(t *testing.T) {
	// E4: the userspace closer's last ACK is lost once; the kernel retransmits its
	// FIN, the closer ACKs it again and restarts TIME-WAIT.
	lab := labtest.Start(t, twoNodes)
	var us *Conn
	dropped := false
	clk := clock.NewManual(t0)
	cfg := Config{Clock: clk, TCP: tcpstate.Config{TimeWait: 2 * time.Second}, BeforeSend: func(e Event) error {
		if us != nil && e.Info.State == tcpstate.TimeWait && !dropped {
			dropped = true
			return errors.New("dropped on purpose")
		}
		return nil
	}}
	h, rec := startHost(t, lab.Node("us"), cfg)
	us, k := pair(t, h, lab.Node("kern"), kern4, us4, true, nil)
	us.Close()
	k.SetReadDeadline(time.Now().Add(failAfter))
	k.Read(make([]byte, 1))
	k.Close()
	// The host's clock moves 1 s into TIME-WAIT and stands there while the kernel
	// retransmits its FIN (on its own clock); the FIN restarts TIME-WAIT, so the
	// connection is still in it 2 s after it entered, and closes 2 s after the FIN.
	waitState(t, rec, us, tcpstate.TimeWait)
	tw := stateTime(rec, us, tcpstate.TimeWait)
	clk.Set(tw.Add(time.Second))
	rec.waitFor(t, "the re-ACK of the retransmitted FIN", func(evs []Event) bool {
		for _, e := range evs {
			if e.Kind == EventTCP && e.TCP.Kind == tcpstate.EventSegmentSent && e.TCP.Cause == "retransmitted FIN in TIME-WAIT: ACK again, restart the TIME-WAIT timer" {
				return true
			}
		}
		return false
	})
	clk.Set(tw.Add(2 * time.Second))
	if st := us.State(); st != tcpstate.TimeWait {
		t.Fatalf("%v 2 s after entering TIME-WAIT: the retransmitted FIN did not restart it", st)
	}
	clk.Set(tw.Add(3 * time.Second))
	waitState(t, rec, us, tcpstate.Closed)
	var fins, acksInTW int
	var lastFIN, closedAt time.Time
	for _, e := range rec.events() {
		if e.Kind != EventTCP {
			continue
		}
		if e.TCP.Kind == tcpstate.EventSegmentReceived && e.TCP.Segment.Flags&header.TCPFlagFIN != 0 {
			fins++
			lastFIN = e.Time
		}
		if e.TCP.Kind == tcpstate.EventSegmentSent && e.TCP.Cause == "retransmitted FIN in TIME-WAIT: ACK again, restart the TIME-WAIT timer" {
			acksInTW++
		}
		if e.TCP.Kind == tcpstate.EventStateChanged && e.TCP.To == tcpstate.Closed {
			closedAt = e.Time
		}
	}
	if fins < 2 || acksInTW < 1 {
		t.Fatalf("FINs received %d, re-ACKs in TIME-WAIT %d; want ≥2 and ≥1", fins, acksInTW)
	}
	if d := closedAt.Sub(lastFIN); d != 2*time.Second {
		t.Errorf("TIME-WAIT ended %v after the retransmitted FIN on the host's clock, want 2 s (restarted)", d)
	}
}

func TestLabLingerZero(t *testing.T) {
	// E6 both ways: close with SO_LINGER {1, 0} sends RST, no FIN, no TIME-WAIT;
	// the peer's read fails with ECONNRESET.
	lab := labtest.Start(t, twoNodes)
	t.Run("userspace aborts", func(t *testing.T) {
		h, rec := startHost(t, lab.Node("us"), Config{})
		us, k := pair(t, h, lab.Node("kern"), kern4, us4, true, nil)
		us.SetLinger(0)
		us.Close()
		k.SetReadDeadline(time.Now().Add(failAfter))
		if _, err := k.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("kernel read: %v, want ECONNRESET", err)
		}
		for _, s := range rec.segments(true) {
			if s.Flags&header.TCPFlagFIN != 0 {
				t.Errorf("FIN sent: %v", &s)
			}
		}
		if last := rec.segments(true); last[len(last)-1].Flags&header.TCPFlagRST == 0 {
			t.Errorf("last segment %v, want RST", &last[len(last)-1])
		}
	})
	t.Run("kernel aborts", func(t *testing.T) {
		h, _ := startHost(t, lab.Node("us"), Config{})
		us, k := pair(t, h, lab.Node("kern"), kern4, us4, false, nil)
		k.(*net.TCPConn).SetLinger(0)
		k.Close()
		us.SetReadDeadline(time.Now().Add(failAfter))
		if _, err := us.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("userspace read: %v, want ECONNRESET", err)
		}
		if us.State() != tcpstate.Closed {
			t.Errorf("state %v", us.State())
		}
	})
}

func TestLabZeroWindow(t *testing.T) {
	// D2: a userspace receiver that never reads: its window falls to 0, the kernel
	// sends zero-window probes, and the kernel writer blocks.
	lab := labtest.Start(t, twoNodes)
	h, rec := startHost(t, lab.Node("us"), Config{})
	_, k := pair(t, h, lab.Node("kern"), kern4, us4, false, &tcpstate.Config{ReceiveBuffer: 32 << 10})
	k.SetWriteDeadline(time.Now().Add(3 * time.Second))
	n, err := k.Write(make([]byte, 8<<20))
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, syscall.ETIMEDOUT) && !isTimeout(err) {
		t.Fatalf("kernel write %d bytes, %v; want it to block until the deadline", n, err)
	}
	var zeroWin, probes int
	for _, s := range rec.segments(true) {
		if s.Window == 0 && s.Flags&header.TCPFlagRST == 0 {
			zeroWin++
		}
	}
	for _, e := range rec.events() {
		if e.Kind == EventTCP && e.TCP.Kind == tcpstate.EventSegmentDropped && len(e.TCP.Segment.Payload) == 0 && e.Info.RcvWnd == 0 {
			probes++
		}
	}
	if zeroWin == 0 || probes == 0 {
		t.Errorf("zero-window ACKs %d, kernel probes %d; want both > 0", zeroWin, probes)
	}
	t.Logf("kernel wrote %d bytes before blocking; %d zero-window ACKs, %d probes", n, zeroWin, probes)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

var _ = unix.AF_INET

func TestLabNeighborAndPing(t *testing.T) {
	// Own-address mode: the kernel next door resolves the host's addresses (ARP,
	// neighbour solicitation) and gets echo replies from it.
	lab := labtest.Start(t, twoNodes)
	_, rec := startHost(t, lab.Node("us"), Config{})
	for _, a := range []netip.Addr{us4, us6} {
		if err := pingFrom(lab.Node("kern"), a); err != nil {
			t.Errorf("ping %v from kern: %v", a, err)
		}
	}
	var arp, na, echo int
	for _, e := range rec.events() {
		switch {
		case e.Kind == EventNeighbor && strings.HasPrefix(e.Text, "ARP reply"):
			arp++
		case e.Kind == EventNeighbor && strings.HasPrefix(e.Text, "neighbour advertisement"):
			na++
		case e.Kind == EventPing:
			echo++
		}
	}
	if arp == 0 || na == 0 || echo != 2 {
		t.Errorf("ARP replies %d, neighbour advertisements %d, echo replies %d; want ≥1, ≥1, 2", arp, na, echo)
	}
}

// pingFrom sends one ICMP echo request from a kernel raw socket in node n and waits
// for the reply (x/net/icmp).
func pingFrom(n *testlab.Node, dst netip.Addr) error {
	network, proto, typ := "ip4:icmp", 1, icmp.Type(ipv4.ICMPTypeEcho)
	if dst.Is6() {
		network, proto, typ = "ip6:ipv6-icmp", 58, ipv6.ICMPTypeEchoRequest
	}
	var pc *icmp.PacketConn
	if err := n.Do(func() (err error) { pc, err = icmp.ListenPacket(network, ""); return }); err != nil {
		return err
	}
	defer pc.Close()
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: 7, Seq: 1, Data: []byte("pktlab")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	if _, err := pc.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return err
	}
	pc.SetReadDeadline(time.Now().Add(failAfter))
	buf := make([]byte, 1500)
	for {
		k, _, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		m, err := icmp.ParseMessage(proto, buf[:k])
		if err == nil && (m.Type == ipv4.ICMPTypeEchoReply || m.Type == ipv6.ICMPTypeEchoReply) {
			return nil
		}
	}
}

func TestLabRSTBeforeAccept(t *testing.T) {
	// C8: a RST after the handshake but before accept: Linux still returns the
	// socket from accept, and the first read fails with ECONNRESET.
	lab := labtest.Start(t, twoNodes)
	h, _ := startHost(t, lab.Node("us"), Config{})
	ln := kernelListen(t, lab.Node("kern"), "198.18.1.2:8080")
	c, err := h.Dial(ctxT(t, failAfter), netip.MustParseAddrPort("198.18.1.2:8080"))
	if err != nil {
		t.Fatal(err)
	}
	// The kernel has the connection in its accept queue, ESTABLISHED; the RST then
	// closes it there (tcp_reset), which takes it out of the socket table.
	kern := lab.Node("kern")
	labtest.Until(t, "the kernel's end to be established", func() (bool, error) {
		ks, err := kernelStatesOf(kern, c.key.local)
		return contains(ks, sockdiag.Established), err
	})
	c.Abort()
	labtest.Until(t, "the RST to close the kernel's end", func() (bool, error) {
		ks, err := kernelStatesOf(kern, c.key.local)
		return err == nil && len(ks) == 0, err
	})
	k, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept after RST: %v, want the socket", err)
	}
	defer k.Close()
	k.SetReadDeadline(time.Now().Add(failAfter))
	if _, err := k.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("first read: %v, want ECONNRESET", err)
	}
}

func TestLabPeerLostState(t *testing.T) {
	// E13: the userspace end drops its TCB (a reboot); the kernel's next write is
	// answered with a RST whose seq is the segment's ack (the ack the connection last
	// received: nothing was sent after the handshake), and the kernel then fails with
	// ECONNRESET. In shared mode the port's kernel RSTs are still dropped by the
	// host's firewall after Forget, so the host itself must answer; before it did,
	// the segment met silence and the writer retransmitted until it gave up.
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			lab := labtest.Start(t, twoNodes)
			h, rec := startHost(t, lab.Node("us"), Config{Shared: shared})
			usAddr := us4
			if shared {
				usAddr = netip.MustParseAddr("198.18.1.1") // the node's own address
			}
			us, k := pair(t, h, lab.Node("kern"), kern4, usAddr, true, nil)
			us.Forget()
			if _, err := k.Write([]byte("anyone there?")); err != nil {
				t.Fatal(err)
			}
			k.SetReadDeadline(time.Now().Add(failAfter))
			if _, err := k.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("kernel read: %v, want ECONNRESET", err)
			}
			in, out := rec.segments(false), rec.segments(true)
			last, rst := in[len(in)-1], out[len(out)-1]
			if rst.Flags != header.TCPFlagRST || rst.Seq != last.Ack {
				t.Errorf("reply %v after %v, want RST with seq = the kernel's ack", &rst, &last)
			}
		})
	}
}

func TestLabKeepaliveTimeout(t *testing.T) {
	// D7 with the userspace end probing: idle 1 s, interval 500 ms, 3 probes; the
	// kernel answers until nftables drops its replies, then the connection is reset
	// with ETIMEDOUT after the third unanswered probe.
	lab := labtest.Start(t, twoNodes)
	cfg := tcpstate.Config{Keepalive: true, KeepIdle: time.Second, KeepInterval: 500 * time.Millisecond, KeepCount: 3}
	// On a manual clock the probes go when the test says: each Advance below runs
	// the host's keepalive timer once, and only the kernel's answers take real time.
	clk := clock.NewManual(t0)
	h, rec := startHost(t, lab.Node("us"), Config{Clock: clk})
	us, _ := pair(t, h, lab.Node("kern"), kern4, us4, true, &cfg)
	probeCount := func(evs []Event) (sent, answered int) {
		for _, e := range evs {
			if e.Kind != EventTCP || e.Local != us.key.local {
				continue
			}
			switch {
			case e.TCP.Kind == tcpstate.EventSegmentSent && strings.HasPrefix(e.TCP.Cause, "keepalive probe"):
				sent++
			case e.TCP.Kind == tcpstate.EventSegmentReceived && sent > answered:
				answered = sent
			}
		}
		return sent, answered
	}
	next := func() time.Time {
		var d time.Time
		us.Machine(func(m *tcpstate.Conn) { d = m.NextDeadline() })
		return d
	}
	clk.Set(next()) // idle 1 s: the first probe, which the kernel answers
	rec.waitFor(t, "the kernel's answer to the first probe", func(evs []Event) bool { _, a := probeCount(evs); return a == 1 })
	nft(t, lab.Node("kern"), "add table inet pktlab-ka; add chain inet pktlab-ka out { type filter hook output priority 0; }; "+
		"add rule inet pktlab-ka out ip daddr 198.18.1.10 counter drop")
	for i := 2; i <= 4 && us.State() != tcpstate.Closed; i++ {
		clk.Set(next())
		rec.waitFor(t, fmt.Sprintf("keepalive probe %d", i), func(evs []Event) bool { s, _ := probeCount(evs); return s == i })
	}
	clk.Set(next()) // the third unanswered probe times out
	waitState(t, rec, us, tcpstate.Closed)
	var err error
	us.Machine(func(m *tcpstate.Conn) { err = m.Err() })
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("state %v, err %v; want CLOSED with ETIMEDOUT", us.State(), err)
	}
	var probes int
	for _, e := range rec.events() {
		if e.Kind == EventTCP && e.TCP.Kind == tcpstate.EventSegmentSent && strings.HasPrefix(e.TCP.Cause, "keepalive probe") {
			probes++
			if e.TCP.Segment.Seq != e.Info.SndNxt-1 || len(e.TCP.Segment.Payload) != 0 {
				t.Errorf("probe %v: want seq SND.NXT−1 and no data", &e.TCP.Segment)
			}
		}
	}
	if probes != 4 { // 1 answered, then 3 unanswered
		t.Errorf("%d keepalive probes, want 4 (one answered, three not)", probes)
	}
}

func TestLabWriteToClosedPeer(t *testing.T) {
	// E9 with the userspace end as the closed peer: the kernel's first write after
	// our close draws a RST (data after close), the next write fails with EPIPE.
	lab := labtest.Start(t, twoNodes)
	h, rec := startHost(t, lab.Node("us"), Config{})
	kern := lab.Node("kern")
	us, k := pair(t, h, kern, kern4, us4, true, nil)
	us.Close()
	labtest.Until(t, "our FIN to put the kernel's end in CLOSE_WAIT", func() (bool, error) {
		ks, err := kernelStatesOf(kern, us.key.local)
		return contains(ks, sockdiag.CloseWait), err
	})
	if _, err := k.Write([]byte("first")); err != nil {
		t.Fatalf("first write: %v, want success (the RST comes after)", err)
	}
	// The RST closes the kernel's end, which takes it out of the socket table.
	labtest.Until(t, "the RST to close the kernel's end", func() (bool, error) {
		ks, err := kernelStatesOf(kern, us.key.local)
		return err == nil && len(ks) == 0, err
	})
	_, err := k.Write([]byte("second"))
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("second write: %v, want EPIPE", err)
	}
	out := rec.segments(true)
	if last := out[len(out)-1]; last.Flags&header.TCPFlagRST == 0 {
		t.Errorf("last segment %v, want RST", &last)
	}
}

func TestLabBacklogFull(t *testing.T) {
	// C7: a listener whose accept queue (1) is full ignores further SYNs (no RST);
	// the client retransmits its SYN.
	lab := labtest.Start(t, twoNodes)
	h, rec := startHost(t, lab.Node("us"), Config{})
	ln, err := h.Listen(9090, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	first, err := kernelDial(ctxT(t, 3*time.Second), lab.Node("kern"), "198.18.1.10:9090")
	if err != nil {
		t.Fatalf("first connect: %v", err)
	}
	defer first.Close()
	// The second connect is given up once the client kernel has retransmitted its
	// SYN (TcpExtTCPSynRetrans): an ignored SYN reaches no machine, so that counter
	// is what shows it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type dialed struct {
		c   net.Conn
		err error
	}
	done := make(chan dialed, 1)
	go func() {
		c, err := kernelDial(ctx, lab.Node("kern"), "198.18.1.10:9090")
		done <- dialed{c, err}
	}()
	labtest.Until(t, "the second client to retransmit its SYN", func() (bool, error) {
		n, err := synRetrans(lab.Node("kern"))
		return n >= 1, err
	})
	cancel()
	if d := <-done; d.err == nil {
		d.c.Close()
		t.Fatal("second connect succeeded with a full accept queue")
	}
	var rsts int
	firstPort := first.LocalAddr().(*net.TCPAddr).AddrPort()
	for _, e := range rec.events() {
		if e.Kind != EventTCP || e.Remote == firstPort {
			continue
		}
		if e.TCP.Kind == tcpstate.EventSegmentSent && e.TCP.Segment.Flags&header.TCPFlagRST != 0 {
			rsts++
		}
	}
	// An ignored SYN reaches no machine, so the client kernel's own counter
	// shows the retransmissions (nstat, TcpExtTCPSynRetrans).
	syns := retransmittedSYNs(t, lab.Node("kern"))
	if rsts != 0 {
		t.Errorf("%d RSTs to the second client, want none", rsts)
	}
	if syns < 1 {
		t.Errorf("the second client retransmitted its SYN %d times, want ≥ 1", syns)
	}
}

// retransmittedSYNs reads the kernel's TcpExtTCPSynRetrans counter in node n.
func retransmittedSYNs(t *testing.T, n *testlab.Node) int64 {
	v, err := synRetrans(n)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// synRetrans reads the TcpExt TCPSynRetrans counter of node n.
func synRetrans(n *testlab.Node) (int64, error) { return labtest.NetStat(n, "TcpExt", "TCPSynRetrans") }

func TestLabHoldSimultaneousOpen(t *testing.T) {
	// C5 against Linux, staged with Hold: the kernel connects first and its SYN waits
	// at the held host; our SYN then finds the kernel in SYN_SENT, which answers
	// SYN-ACK (also held); on Release the host meets the kernel's bare SYN in
	// SYN-SENT and the SYN-ACK in SYN-RECEIVED. Both ends go SYN-SENT →
	// SYN-RECEIVED → ESTABLISHED with four segments: two SYNs, two SYN-ACKs.
	lab := labtest.Start(t, twoNodes)
	h, rec := startHost(t, lab.Node("us"), Config{})
	h.Hold()
	usAddr := netip.AddrPortFrom(us4, 40000)
	kernAddr := netip.AddrPortFrom(kern4, 40001)
	kdone := make(chan error, 1)
	var k net.Conn
	go func() {
		kdone <- lab.Node("kern").Do(func() (err error) {
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(kernAddr), Timeout: 5 * time.Second}
			k, err = d.Dial("tcp", usAddr.String())
			return
		})
	}()
	waitFor(t, "the kernel's SYN held", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.held) == 1
	})
	udone := make(chan error, 1)
	go func() {
		c, err := h.DialWith(ctxT(t, failAfter), kernAddr, &DialOptions{LocalPort: 40000})
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		udone <- err
	}()
	waitFor(t, "the kernel's SYN-ACK held", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.held) == 2
	})
	if n := h.Release(); n != 2 {
		t.Errorf("Release processed %d held segments, want 2", n)
	}
	if err := <-udone; err != nil {
		t.Fatalf("userspace dial: %v", err)
	}
	if err := <-kdone; err != nil {
		t.Fatalf("kernel dial: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	if got := rec.states(usAddr); !statesEqual(got, tcpstate.SynSent, tcpstate.SynReceived, tcpstate.Established) {
		t.Errorf("userspace states %v, want SYN-SENT, SYN-RECEIVED, ESTABLISHED", got)
	}
	in, out := rec.segments(false), rec.segments(true)
	if len(in) < 2 || in[0].Flags != header.TCPFlagSYN || in[1].Flags != header.TCPFlagSYN|header.TCPFlagACK {
		t.Errorf("received %v, want SYN then SYN-ACK first", in)
	}
	if len(out) < 2 || out[0].Flags != header.TCPFlagSYN || out[1].Flags != header.TCPFlagSYN|header.TCPFlagACK || out[1].Ack != in[0].Seq.Add(1) {
		t.Errorf("sent %v, want SYN then SYN-ACK acknowledging the kernel's SYN", out)
	}
}

// waitFor polls cond until it holds (labtest.Until).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	labtest.Until(t, what, func() (bool, error) { return cond(), nil })
}
