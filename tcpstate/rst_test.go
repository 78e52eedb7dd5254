package tcpstate

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
)

func TestResetForNoConnection(t *testing.T) {
	// RFC 9293 §3.10.7.1 (C6: a stray ACK gets RST with seq = its ack).
	tests := []struct {
		name string
		in   Segment
		want *seg
	}{
		{"stray ACK", Segment{Seq: 100, Ack: 5000, Flags: header.TCPFlagACK}, &seg{Flags: header.TCPFlagRST, Seq: v(5000)}},
		{"SYN", Segment{Seq: 100, Flags: header.TCPFlagSYN}, &seg{Flags: header.TCPFlagRST | header.TCPFlagACK, Seq: v(0), Ack: v(101)}},
		{"data without ACK", Segment{Seq: 100, Flags: header.TCPFlagPSH, Payload: []byte("abc")}, &seg{Flags: header.TCPFlagRST | header.TCPFlagACK, Seq: v(0), Ack: v(103)}},
		{"RST", Segment{Seq: 100, Flags: header.TCPFlagRST}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Reset(&tt.in)
			if ok != (tt.want != nil) {
				t.Fatalf("ok %v", ok)
			}
			if ok {
				if m := tt.want.mismatch(&got); m != "" {
					t.Error(m)
				}
			}
			c := New(nil, addrA, addrB, t0)
			out := c.HandleSegment(t0, &tt.in)
			if ok {
				expect(t, "CLOSED conn", out, *tt.want)
			} else {
				expect(t, "CLOSED conn", out)
			}
		})
	}
}

func TestListenInput(t *testing.T) {
	tests := []struct {
		name  string
		in    Segment
		want  []seg
		state State
	}{
		{"RST ignored", Segment{Seq: 1, Flags: header.TCPFlagRST}, nil, Listen},
		{"ACK draws RST", Segment{Seq: 1, Ack: 77, Flags: header.TCPFlagACK}, []seg{{Flags: header.TCPFlagRST, Seq: v(77)}}, Listen},
		{"SYN", Segment{Seq: 1000, Flags: header.TCPFlagSYN, Window: 100}, []seg{{Flags: header.TCPFlagSYN | header.TCPFlagACK, Ack: v(1001)}}, SynReceived},
		{"bare FIN dropped", Segment{Seq: 1, Flags: header.TCPFlagFIN}, nil, Listen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewListening(nil, addrB, addrA, t0)
			expect(t, tt.name, c.HandleSegment(t0, &tt.in), tt.want...)
			if c.State() != tt.state {
				t.Errorf("state %v, want %v", c.State(), tt.state)
			}
		})
	}
}

func TestSynSentInput(t *testing.T) {
	newSent := func() *Conn {
		c := New(nil, addrA, addrB, t0)
		c.Connect(t0)
		return c
	}
	c := newSent()
	iss := c.iss
	tests := []struct {
		name  string
		in    Segment
		want  []seg
		state State
	}{
		{"ACK of something else draws RST", Segment{Seq: 5, Ack: iss + 100, Flags: header.TCPFlagACK}, []seg{{Flags: header.TCPFlagRST, Seq: v(iss + 100)}}, SynSent},
		{"RST without ACK ignored", Segment{Seq: 5, Flags: header.TCPFlagRST}, nil, SynSent},
		{"RST with bad ACK ignored", Segment{Seq: 5, Ack: iss + 7, Flags: header.TCPFlagRST | header.TCPFlagACK}, nil, SynSent},
		{"RST acking SYN refuses", Segment{Seq: 0, Ack: iss + 1, Flags: header.TCPFlagRST | header.TCPFlagACK}, nil, Closed},
		{"SYN-ACK", Segment{Seq: 9, Ack: iss + 1, Flags: header.TCPFlagSYN | header.TCPFlagACK}, []seg{{Flags: header.TCPFlagACK, Seq: v(iss + 1), Ack: v(10)}}, Established},
		{"SYN crosses", Segment{Seq: 9, Flags: header.TCPFlagSYN}, []seg{{Flags: header.TCPFlagSYN | header.TCPFlagACK, Seq: v(iss), Ack: v(10)}}, SynReceived},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newSent()
			expect(t, tt.name, c.HandleSegment(t0, &tt.in), tt.want...)
			if c.State() != tt.state {
				t.Errorf("state %v, want %v", c.State(), tt.state)
			}
		})
	}
}

func TestRFC5961(t *testing.T) {
	tests := []struct {
		name      string
		mk        func(l *link) Segment
		want      []seg
		state     State
		challenge int
	}{
		{"RST at RCV.NXT resets", func(l *link) Segment { return Segment{Seq: l.b.rcvNxt, Flags: header.TCPFlagRST} }, nil, Closed, 0},
		{"in-window RST challenged", func(l *link) Segment { return Segment{Seq: l.b.rcvNxt + 10, Flags: header.TCPFlagRST} }, []seg{{Flags: header.TCPFlagACK}}, Established, 1},
		{"out-of-window RST dropped", func(l *link) Segment { return Segment{Seq: l.b.rcvNxt - 10, Flags: header.TCPFlagRST} }, nil, Established, 0},
		{"SYN challenged", func(l *link) Segment { return Segment{Seq: l.b.rcvNxt, Flags: header.TCPFlagSYN} }, []seg{{Flags: header.TCPFlagACK}}, Established, 1},
		{"ACK of unsent data", func(l *link) Segment {
			return Segment{Seq: l.b.rcvNxt, Ack: l.a.rcvNxt + 1000, Flags: header.TCPFlagACK}
		}, []seg{{Flags: header.TCPFlagACK}}, Established, 0},
		{"very old ACK challenged", func(l *link) Segment {
			return Segment{Seq: l.b.rcvNxt, Ack: l.a.rcvNxt - 1<<30, Flags: header.TCPFlagACK, Payload: []byte("x")}
		}, []seg{{Flags: header.TCPFlagACK}}, Established, 1},
		{"old sequence number gets ACK", func(l *link) Segment {
			return Segment{Seq: l.b.rcvNxt - 100, Ack: l.a.rcvNxt, Flags: header.TCPFlagACK, Payload: []byte("old")}
		}, []seg{{Flags: header.TCPFlagACK, Ack: v(0)}}, Established, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLink(t, &Config{NoTimestamps: true}, &Config{NoTimestamps: true})
			l.handshake()
			in := tt.mk(l)
			w := tt.want
			if len(w) == 1 && w[0].Ack != nil {
				w[0].Ack = v(l.b.rcvNxt)
			}
			expect(t, tt.name, l.b.HandleSegment(l.now, &in), w...)
			if l.b.State() != tt.state || l.b.Stats().ChallengeACKs != tt.challenge {
				t.Errorf("state %v, %d challenge ACKs; want %v, %d", l.b.State(), l.b.Stats().ChallengeACKs, tt.state, tt.challenge)
			}
		})
	}
}

func TestPAWS(t *testing.T) {
	l := newLink(t, nil, nil)
	l.handshake()
	l.now = l.now.Add(time.Second)
	l.transfer(l.a, []byte("fresh"), time.Minute)
	old := Segment{Seq: l.b.rcvNxt, Ack: l.b.sndNxt, Flags: header.TCPFlagACK, Payload: []byte("stale")}
	old.Options.HasTS, old.Options.TSVal = true, l.b.tsRecent-1000
	expect(t, "PAWS", l.b.HandleSegment(l.now, &old), seg{Flags: header.TCPFlagACK, Ack: v(l.b.rcvNxt)})
	if l.b.Readable() != 0 {
		t.Errorf("stale data accepted")
	}
}

func TestSynReceivedRSTReturnsToListen(t *testing.T) {
	c := NewListening(nil, addrB, addrA, t0)
	c.HandleSegment(t0, &Segment{Seq: 1000, Flags: header.TCPFlagSYN})
	out := c.HandleSegment(t0, &Segment{Seq: 1001, Flags: header.TCPFlagRST})
	if c.State() != Listen || !c.Done() {
		t.Fatalf("state %v done %v, want LISTEN and done", c.State(), c.Done())
	}
	if e := out.Events[len(out.Events)-1]; e.Kind != EventStateChanged || e.From != SynReceived {
		t.Errorf("event %v", e)
	}
	recordTransitions(out.Events)
}

func TestSynReceivedBadACK(t *testing.T) {
	c := NewListening(nil, addrB, addrA, t0)
	c.HandleSegment(t0, &Segment{Seq: 1000, Flags: header.TCPFlagSYN})
	expect(t, "bad ACK", c.HandleSegment(t0, &Segment{Seq: 1001, Ack: c.iss + 50, Flags: header.TCPFlagACK}), seg{Flags: header.TCPFlagRST, Seq: v(c.iss + 50)})
	expect(t, "SYN again", c.HandleSegment(t0, &Segment{Seq: 1000, Flags: header.TCPFlagSYN}), seg{Flags: header.TCPFlagSYN | header.TCPFlagACK, Seq: v(c.iss), Ack: v(1001)})
}

func TestSynRetransmitBackoff(t *testing.T) {
	// C3: a SYN that gets no answer is retransmitted after 1 s, 2 s, 4 s… and the
	// connect fails with ETIMEDOUT.
	l := newLink(t, &Config{SynRetries: 3}, nil)
	l.drop = func(*Conn, *Segment) bool { return true }
	o, _ := l.a.Connect(l.now)
	l.take(l.a, o)
	l.runFor(time.Minute)
	var at []time.Duration
	for _, s := range l.events[l.a] {
		if s.Kind == EventSegmentSent {
			at = append(at, s.Time.Sub(t0))
		}
	}
	want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}
	if len(at) != len(want) {
		t.Fatalf("SYNs at %v, want %v", at, want)
	}
	for i := range want {
		if at[i] != want[i] {
			t.Errorf("SYN %d at %v, want %v", i, at[i], want[i])
		}
	}
	if l.a.State() != Closed || l.a.Err() == nil || l.a.Err().Error() != "connection timed out" {
		t.Errorf("%v %v", l.a.State(), l.a.Err())
	}
}

func TestCloseBeforeEstablished(t *testing.T) {
	c := New(nil, addrA, addrB, t0)
	c.Connect(t0)
	out := c.Close(t0)
	recordTransitions(out.Events)
	if c.State() != Closed || len(out.Segments) != 0 {
		t.Errorf("SYN-SENT close: %v, %d segments", c.State(), len(out.Segments))
	}
	c = New(nil, addrA, addrB, t0)
	out, _ = c.Listen(t0)
	recordTransitions(out.Events)
	out = c.Close(t0)
	recordTransitions(out.Events)
	if c.State() != Closed {
		t.Errorf("LISTEN close: %v", c.State())
	}
	c = New(nil, addrA, addrB, t0)
	out, _ = c.Listen(t0)
	recordTransitions(out.Events)
	out, _ = c.Connect(t0)
	recordTransitions(out.Events)
	expect(t, "SEND in LISTEN", out, seg{Flags: header.TCPFlagSYN})
	if c.State() != SynSent {
		t.Errorf("LISTEN connect: %v", c.State())
	}
}

func TestCloseInSynReceived(t *testing.T) {
	// SYN-RECEIVED --CLOSE--> FIN-WAIT-1: the FIN follows once the SYN is ACKed.
	l := newLink(t, nil, nil)
	o, _ := l.b.Listen(l.now)
	l.take(l.b, o)
	o, _ = l.a.Connect(l.now)
	l.take(l.a, o)
	w := l.inflight[0]
	l.inflight = nil
	l.take(l.b, l.b.HandleSegment(l.now, &w.seg)) // SYN → SYN-RECEIVED
	l.take(l.b, l.b.Close(l.now))
	if l.b.State() != FinWait1 {
		t.Fatalf("state %v", l.b.State())
	}
	l.deliver()
	l.take(l.a, l.a.Close(l.now))
	l.deliver()
	if l.a.State() != Closed && l.a.State() != TimeWait || l.b.State() != TimeWait && l.b.State() != Closed {
		t.Errorf("a %v b %v\n%s", l.a.State(), l.b.State(), l.causes(l.b))
	}
}

func TestISN(t *testing.T) {
	// C10 and RFC 6528: not zero, increasing on one 4-tuple over time, unrelated
	// across tuples, and dependent on the secret.
	var secret [16]byte
	a := ISN(secret, addrA, addrB, t0)
	b := ISN(secret, addrA, addrB, t0.Add(time.Second))
	if a == 0 || a == b {
		t.Errorf("ISNs %d, %d: want non-zero and different", a, b)
	}
	if d := uint32(b - a); d != 250000 {
		t.Errorf("one second later the ISN moved %d, want 250000 (4 µs ticks)", d)
	}
	other := netip.MustParseAddrPort("198.18.0.1:40001")
	if c := ISN(secret, other, addrB, t0); c-a < 1000 && a-c < 1000 {
		t.Errorf("neighbouring tuples got nearby ISNs %d, %d", a, c)
	}
	secret[0] = 1
	if ISN(secret, addrA, addrB, t0) == a {
		t.Errorf("the secret does not change the ISN")
	}
}
