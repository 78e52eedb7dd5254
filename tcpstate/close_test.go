package tcpstate

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pktlab/pktlab/rawsock/header"
)

func TestFourWayClose(t *testing.T) {
	// E1: FIN→, ←ACK, ←FIN, ACK→; the active closer goes FIN-WAIT-1 → FIN-WAIT-2 →
	// TIME-WAIT, the passive one CLOSE-WAIT → LAST-ACK → CLOSED and reads EOF. E2:
	// only the closer is in TIME-WAIT; E3: it leaves after the configured time.
	for _, first := range []string{"client", "server"} {
		t.Run(first+" closes", func(t *testing.T) {
			l := newLink(t, &Config{TimeWait: 2 * time.Second}, &Config{TimeWait: 2 * time.Second})
			l.handshake()
			closer, other := l.a, l.b
			if first == "server" {
				closer, other = l.b, l.a
			}
			l.events = map[*Conn][]Event{}
			l.take(closer, closer.Close(l.now))
			l.deliver()
			if !other.ReadClosed() {
				t.Fatalf("peer did not read EOF")
			}
			l.take(other, other.Close(l.now))
			l.deliver()
			if diff := cmp.Diff([]State{FinWait1, FinWait2, TimeWait}, l.states(closer)); diff != "" {
				t.Errorf("closer (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]State{CloseWait, LastAck, Closed}, l.states(other)); diff != "" {
				t.Errorf("other (-want +got):\n%s", diff)
			}
			twStart := l.now
			l.runFor(time.Hour)
			if closer.State() != Closed {
				t.Fatalf("closer still %v", closer.State())
			}
			last := l.events[closer][len(l.events[closer])-1]
			if got := last.Time.Sub(twStart); got != 2*time.Second {
				t.Errorf("TIME-WAIT lasted %v, want 2s", got)
			}
		})
	}
}

func TestSimultaneousClose(t *testing.T) {
	// E5: both send FIN before receiving the other's: FIN-WAIT-1 → CLOSING →
	// TIME-WAIT on both sides.
	l := newLink(t, nil, nil)
	l.handshake()
	l.take(l.a, l.a.Close(l.now))
	l.take(l.b, l.b.Close(l.now))
	l.deliver()
	for _, c := range []*Conn{l.a, l.b} {
		st := l.states(c)
		if diff := cmp.Diff([]State{FinWait1, Closing, TimeWait}, st[len(st)-3:]); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
	l.runFor(DefaultTimeWait - time.Millisecond)
	if l.a.State() != TimeWait {
		t.Errorf("left TIME-WAIT before 60 s: %v", l.a.State())
	}
	l.runFor(time.Millisecond)
	if l.a.State() != Closed || l.b.State() != Closed {
		t.Errorf("after 60 s: %v %v, want CLOSED", l.a.State(), l.b.State())
	}
}

func TestFINRetransmittedIntoTimeWait(t *testing.T) {
	// E4: the closer's last ACK is lost; the peer retransmits its FIN, the closer
	// ACKs it again and restarts the TIME-WAIT timer.
	tw := 10 * time.Second
	l := newLink(t, &Config{TimeWait: tw}, nil)
	l.handshake()
	l.take(l.a, l.a.Close(l.now))
	l.deliver()
	dropped := false
	l.drop = func(c *Conn, s *Segment) bool {
		if c == l.a && l.a.State() == TimeWait && !dropped {
			dropped = true
			return true
		}
		return false
	}
	l.take(l.b, l.b.Close(l.now))
	l.deliver()
	if l.a.State() != TimeWait || l.b.State() != LastAck {
		t.Fatalf("a %v, b %v; want TIME-WAIT, LAST-ACK", l.a.State(), l.b.State())
	}
	twStart := l.now
	if !l.until(time.Minute, func() bool { return l.b.State() == Closed }) {
		t.Fatalf("peer never left LAST-ACK")
	}
	refin := l.now
	var reack *Event
	for i, e := range l.events[l.a] {
		if e.Kind == EventSegmentSent && e.Time == refin {
			reack = &l.events[l.a][i]
		}
	}
	if reack == nil || reack.Segment.Flags != header.TCPFlagACK {
		t.Fatalf("no ACK for the retransmitted FIN:\n%s", l.causes(l.a))
	}
	l.runFor(time.Hour)
	end := l.events[l.a][len(l.events[l.a])-1].Time
	if got := end.Sub(refin); got != tw {
		t.Errorf("TIME-WAIT ended %v after the retransmitted FIN, want %v (restarted; first entry was %v earlier)", got, tw, refin.Sub(twStart))
	}
}

func TestHalfClose(t *testing.T) {
	// E7: after CloseWrite the other direction keeps flowing; the peer is in
	// CLOSE-WAIT and can still send.
	l := newLink(t, nil, nil)
	l.handshake()
	l.take(l.a, l.a.CloseWrite(l.now))
	l.deliver()
	if l.a.State() != FinWait2 || l.b.State() != CloseWait {
		t.Fatalf("a %v b %v", l.a.State(), l.b.State())
	}
	data := pattern(100000, 9)
	if got := l.transfer(l.b, data, time.Minute); string(got) != string(data) {
		t.Fatalf("data after half-close: got %d bytes", len(got))
	}
	if _, _, err := l.a.Write(l.now, []byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("write after CloseWrite: %v, want EPIPE", err)
	}
	l.take(l.b, l.b.Close(l.now))
	l.deliver()
	if l.a.State() != TimeWait || l.b.State() != Closed {
		t.Errorf("a %v b %v, want TIME-WAIT, CLOSED", l.a.State(), l.b.State())
	}
}

func TestAbortSendsRST(t *testing.T) {
	// E6: linger 0 → RST instead of FIN, no TIME-WAIT, queued data discarded; the
	// peer fails with ECONNRESET.
	l := newLink(t, nil, nil)
	l.handshake()
	_, out, _ := l.a.Write(l.now, make([]byte, 3000))
	l.take(l.a, out) // queued, not delivered
	l.inflight = nil
	o := l.a.Abort(l.now, "close with SO_LINGER {1, 0}")
	expect(t, "abort", o, seg{Flags: header.TCPFlagRST | header.TCPFlagACK, Seq: v(l.a.sndNxt)})
	l.take(l.a, o)
	l.deliver()
	if l.a.State() != Closed || l.b.State() != Closed || l.b.Err() != syscall.ECONNRESET {
		t.Errorf("a %v, b %v err %v; want CLOSED, CLOSED, ECONNRESET", l.a.State(), l.b.State(), l.b.Err())
	}
	for _, s := range l.sent[l.a] {
		if s.Flags&header.TCPFlagFIN != 0 {
			t.Errorf("FIN sent: %v", &s)
		}
	}
}

func TestCloseWithUnreadDataSendsRST(t *testing.T) {
	// E8: close with data in the receive buffer sends RST, not FIN.
	l := newLink(t, nil, nil)
	l.handshake()
	l.transferNoRead(l.a, []byte("unread"))
	o := l.b.Close(l.now)
	expect(t, "close", o, seg{Flags: header.TCPFlagRST | header.TCPFlagACK})
	if l.b.State() != Closed {
		t.Errorf("state %v", l.b.State())
	}
}

func (l *link) transferNoRead(c *Conn, p []byte) {
	_, out, _ := c.Write(l.now, p)
	l.take(c, out)
	l.deliver()
	l.runFor(time.Second)
}

func TestDataAfterCloseDrawsRST(t *testing.T) {
	l := newLink(t, nil, nil)
	l.handshake()
	l.take(l.a, l.a.Close(l.now))
	l.deliver()
	if l.a.State() != FinWait2 {
		t.Fatalf("a %v", l.a.State())
	}
	_, out, _ := l.b.Write(l.now, []byte("late"))
	l.take(l.b, out)
	l.deliver()
	if l.a.State() != Closed || l.b.Err() != syscall.ECONNRESET {
		t.Errorf("a %v, b err %v; want CLOSED and ECONNRESET", l.a.State(), l.b.Err())
	}
}

func TestFinWait2Timeout(t *testing.T) {
	l := newLink(t, &Config{FinWait2: 5 * time.Second}, nil)
	l.handshake()
	l.take(l.a, l.a.Close(l.now))
	l.deliver()
	start := l.now
	l.runFor(time.Minute)
	if l.a.State() != Closed {
		t.Fatalf("still %v", l.a.State())
	}
	if got := l.events[l.a][len(l.events[l.a])-1].Time.Sub(start); got != 5*time.Second {
		t.Errorf("FIN-WAIT-2 ended after %v", got)
	}
}
