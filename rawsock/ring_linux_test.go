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
func TestRingMatchesRecvmsg(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	plain := open(t, lab, "b", "eth0", nil)
	ring := open(t, lab, "b", "eth0", &rawsock.Config{Ring: 4 << 20})
	start := time.Now()
	for i := 1; i <= 3; i++ {
		ping(t, lab.Node("a"), addrB, i)
		ping(t, lab.Node("a"), addrB6, i)
	}
	time.Sleep(300 * time.Millisecond)
	// Compare frames well before the cutoff: a ring hands a block over up to a retire
	// period (or two) after its last frame, and unrelated MLD reports keep coming.
	cutoff := time.Now().Add(-150 * time.Millisecond)
	keep := func(fs []rawsock.Frame) []rawsock.Frame {
		var out []rawsock.Frame
		for _, f := range fs {
			if !f.Time.After(cutoff) {
				out = append(out, f)
			}
		}
		return out
	}
	want := keep(collect(t, plain, 100*time.Millisecond))
	got := keep(collect(t, ring, 300*time.Millisecond))
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
		// Late frames (MLD reports, a block retired after the cutoff) may still be
		// read first; what matters is the error that ends the reads.
		for {
			if _, err := ring.ReadFrame(context.Background(), make([]byte, 2048)); err != nil {
				errc <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	must(t, ring.Close())
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked ReadFrame after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ReadFrame on a ring socket still blocked 2 s after Close")
	}
}

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
		time.Sleep(20 * time.Millisecond)
		ping(t, lab.Node("a"), addrB, n)
		cancel() // well within the 50 ms a block may wait before the kernel retires it
		if got := <-done; got != 2*n {
			t.Errorf("capture on %d sockets stopped right after a ping saw %d frames, want %d", n, got, 2*n)
		}
	}
}
