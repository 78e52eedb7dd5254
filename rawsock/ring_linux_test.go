//go:build linux

package rawsock_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/capfilter"
)

// TestRingMatchesRecvmsg: a socket reading through a TPACKET_V3 ring sees exactly the
// frames, types and lengths a recvmsg socket sees, with kernel timestamps, and
// unblocks with net.ErrClosed when closed.
//
// The two sockets are not bound at the same instant: setting up the ring (a 4 MiB
// PACKET_RX_RING and its mmap) takes about 12 ms, and a fresh link sends its IPv6
// multicast-listener reports in exactly that window, so they reached the recvmsg
// socket only (the ring always had two frames fewer, 16 vs 18, 17 vs 19). The frames
// compared are therefore those between two marker pings that both sockets report:
// the first proves both are bound, the second that both have delivered everything
// before it, with no sleep and no wall-clock cutoff.
func TestRingMatchesRecvmsg(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	plain := open(t, lab, "b", "eth0", nil)
	ring := open(t, lab, "b", "eth0", &rawsock.Config{Ring: 4 << 20})
	const first, last = 1000, 1001
	start := time.Now()
	ping(t, lab.Node("a"), addrB, first)
	for i := 1; i <= 3; i++ {
		ping(t, lab.Node("a"), addrB, i)
		ping(t, lab.Node("a"), addrB6, i)
	}
	ping(t, lab.Node("a"), addrB, last)
	want := between(t, plain, first, last)
	got := between(t, ring, first, last)
	if len(want) < 12 || len(got) != len(want) {
		t.Fatalf("ring socket read %d frames, recvmsg socket %d (want the same, at least 12)", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if !bytes.Equal(w.Data, g.Data) || w.Type != g.Type || w.Length != g.Length || w.Protocol != g.Protocol {
			t.Errorf("frame %d: ring %v %d bytes %v, recvmsg %v %d bytes %v", i, g.Type, g.Length, g.Protocol, w.Type, w.Length, w.Protocol)
		}
		if g.Time.Before(start) || d(g.Time.Sub(w.Time)) > time.Millisecond {
			t.Errorf("frame %d: ring time %v, recvmsg time %v", i, g.Time, w.Time)
		}
	}
	errc := make(chan error)
	go func() {
		// Late frames (MLD reports) may still be read first; what matters is the
		// error that ends the reads.
		for {
			if _, err := ring.ReadFrame(context.Background(), make([]byte, 2048)); err != nil {
				errc <- err
				return
			}
		}
	}()
	must(t, ring.Close())
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked ReadFrame after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(labtest.FailAfter): // only ends a hang: Close unblocks it at once
		t.Fatalf("ReadFrame on a ring socket still blocked %v after Close", labtest.FailAfter)
	}
}

// between reads c until it has seen the IPv4 echo request with sequence number last,
// and returns copies of the frames strictly between the echo request with sequence
// number first and that one. A generous limit fails the test rather than hang it.
func between(t *testing.T, c *rawsock.Conn, first, last int) []rawsock.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []rawsock.Frame
	in := false
	buf := make([]byte, 65536)
	for {
		f, err := c.ReadFrame(ctx, buf)
		if err != nil {
			t.Fatalf("read on %s:%s before echo request %d: %v", c.Node(), c.Interface(), last, err)
		}
		switch {
		case isEchoRequest(f.Data, last):
			if !in {
				t.Fatalf("%s:%s: echo request %d seen before %d", c.Node(), c.Interface(), last, first)
			}
			return out
		case isEchoRequest(f.Data, first):
			in = true
		case in:
			f.Data = append([]byte(nil), f.Data...)
			out = append(out, f)
		}
	}
}

// ICMP types of ping's messages (RFC 792).
const (
	icmpEchoReply   = 0
	icmpEchoRequest = 8
)

// isEcho reports whether an Ethernet frame is an IPv4 ICMP echo message of ping of
// the given type with sequence number seq.
func isEcho(b []byte, typ byte, seq int) bool {
	const eth, ip = 14, 20 // ping's IPv4 header has no options
	return len(b) >= eth+ip+8 && b[12] == 0x08 && b[13] == 0x00 && b[eth+9] == 1 &&
		b[eth+ip] == typ && int(b[eth+ip+6])<<8|int(b[eth+ip+7]) == seq
}

// isEcho6Request reports whether an Ethernet frame is an ICMPv6 echo request right
// after the IPv6 header (RFC 4443 §4.1), as ping sends it.
func isEcho6Request(b []byte) bool {
	const eth, ip6 = 14, 40
	return len(b) >= eth+ip6+8 && b[12] == 0x86 && b[13] == 0xdd && b[eth+6] == 58 && b[eth+ip6] == 128
}

// isEchoRequest reports whether an Ethernet frame is ping's echo request seq.
func isEchoRequest(b []byte, seq int) bool { return isEcho(b, icmpEchoRequest, seq) }

func d(x time.Duration) time.Duration {
	if x < 0 {
		return -x
	}
	return x
}

// TestCaptureStopKeepsRingFrames: frames that sit in a part-filled ring block when
// Capture is stopped (a Ctrl-C right after traffic) are still delivered, for one
// socket and for a merged capture of two.
func TestCaptureStopKeepsRingFrames(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	icmp := capfilter.MustCompile("icmp", capfilter.LinkTypeEthernet)
	for _, n := range []int{1, 2} {
		conns := []*rawsock.Conn{open(t, lab, "b", "eth0", &rawsock.Config{Ring: 4 << 20, Filter: icmp})}
		if n == 2 {
			conns = append(conns, open(t, lab, "a", "eth0", &rawsock.Config{Ring: 4 << 20, Filter: icmp}))
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int)
		go func() {
			got := 0
			rawsock.Capture(ctx, conns, func(rawsock.Captured) error { got++; return nil })
			done <- got
		}()
		ping(t, lab.Node("a"), addrB, n)
		// Stop once the kernel has put the request and the reply in every ring: that is
		// well within the 50 ms a block may wait before the kernel retires it, and a
		// capture stopped even before its first read still drains the rings.
		for _, c := range conns {
			labtest.Until(t, "the echo request and reply in the ring", func() (bool, error) {
				st, err := c.Stats()
				return st.Received >= 2, err
			})
		}
		cancel()
		if got := <-done; got != 2*n {
			t.Errorf("capture on %d sockets stopped right after a ping saw %d frames, want %d", n, got, 2*n)
		}
	}
}
