package tcpstate

import (
	"syscall"
	"testing"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
)

func TestZeroWindowPersist(t *testing.T) {
	// D2: a receiver that never reads: the window falls to 0, the writer's buffer
	// fills, zero-window probes appear with growing gaps; reading reopens it.
	l := newLink(t, nil, &Config{ReceiveBuffer: 20000})
	l.handshake()
	data := pattern(50000, 5)
	n, out, _ := l.a.Write(l.now, data)
	l.take(l.a, out)
	l.deliver()
	l.runFor(10 * time.Second)
	if l.a.sndWnd != 0 {
		t.Fatalf("sender's window %d, want 0", l.a.sndWnd)
	}
	var probes []time.Time
	for _, e := range l.events[l.a] {
		if e.Kind == EventSegmentSent && e.Cause == "zero-window probe" {
			probes = append(probes, e.Time)
		}
	}
	if len(probes) < 3 {
		t.Fatalf("%d zero-window probes in 10 s\n%s", len(probes), l.causes(l.a))
	}
	if g1, g2 := probes[1].Sub(probes[0]), probes[2].Sub(probes[1]); g2 != 2*g1 {
		t.Errorf("probe gaps %v then %v, want doubling", g1, g2)
	}
	got := l.readAll(l.b)
	got = append(got, l.transfer(l.a, data[n:], time.Minute)...)
	if string(got) != string(data) {
		t.Errorf("after reopening: %d bytes", len(got))
	}
}

func TestKeepalive(t *testing.T) {
	// D7: after idle, probes every interval; count unanswered → reset, ETIMEDOUT.
	cfg := &Config{Keepalive: true, KeepIdle: 2 * time.Second, KeepInterval: time.Second, KeepCount: 3}
	l := newLink(t, cfg, nil)
	l.handshake()
	start := l.now
	l.runFor(5 * time.Second)
	if l.a.Stats().KeepaliveProbes != 2 || l.a.State() != Established {
		t.Fatalf("answered probes: %d, %v", l.a.Stats().KeepaliveProbes, l.a.State())
	}
	l.drop = func(c *Conn, s *Segment) bool { return c == l.b }
	l.runFor(time.Minute)
	if l.a.State() != Closed || l.a.Err() != syscall.ETIMEDOUT {
		t.Fatalf("%v %v", l.a.State(), l.a.Err())
	}
	last := l.sent[l.a][len(l.sent[l.a])-1]
	if last.Flags&header.TCPFlagRST == 0 {
		t.Errorf("last segment %v, want RST", &last)
	}
	for _, e := range l.events[l.a] {
		if e.Cause == "keepalive probe 1" {
			if got := e.Time.Sub(start); got != 2*time.Second {
				t.Errorf("first probe after %v, want 2s", got)
			}
			if e.Segment.Seq != l.a.sndNxt-1 || len(e.Segment.Payload) != 0 {
				t.Errorf("probe %v, want seq SND.NXT-1 and no data", &e.Segment)
			}
			break
		}
	}
}

func TestNagle(t *testing.T) {
	// D4: ten 10-byte writes: with Nagle one segment goes at once and the rest
	// wait for its ACK; with NoDelay each goes at once.
	for _, tc := range []struct {
		name    string
		noDelay bool
		want    int
	}{{"nagle", false, 1}, {"nodelay", true, 10}} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLink(t, &Config{NoDelay: tc.noDelay}, nil)
			l.handshake()
			segs := 0
			for i := 0; i < 10; i++ {
				_, out, _ := l.a.Write(l.now, []byte("0123456789"))
				segs += len(out.Segments)
				l.take(l.a, out)
			}
			if segs != tc.want {
				t.Errorf("%d segments before any ACK, want %d", segs, tc.want)
			}
			l.deliver()
			l.runFor(time.Second)
			if got := l.readAll(l.b); len(got) != 100 {
				t.Errorf("received %d bytes", len(got))
			}
		})
	}
}

func TestDelayedAck(t *testing.T) {
	// D5: one segment is ACKed after the delayed-ACK timeout, two at once.
	l := newLink(t, nil, nil)
	l.handshake()
	mss := l.a.sendMSS
	_, out, _ := l.a.Write(l.now, make([]byte, 100))
	l.take(l.a, out)
	l.deliver()
	before := len(l.sent[l.b])
	start := l.now
	l.runFor(time.Second)
	acks := l.sent[l.b][before:]
	if len(acks) != 1 {
		t.Fatalf("%d ACKs for one segment", len(acks))
	}
	for _, e := range l.events[l.b] {
		if e.Cause == "delayed ACK timer" {
			if got := e.Time.Sub(start); got != DefaultDelayedAck {
				t.Errorf("delayed ACK after %v", got)
			}
		}
	}
	before = len(l.sent[l.b])
	_, out, _ = l.a.Write(l.now, make([]byte, 2*mss))
	l.take(l.a, out)
	l.deliver()
	if got := len(l.sent[l.b]) - before; got != 1 {
		t.Errorf("%d immediate ACKs for two full segments, want 1", got)
	}
}
