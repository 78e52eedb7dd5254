package tcpstate

import (
	"bytes"
	"math/rand"
	"testing"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate/seqnum"
)

func pattern(size int, seed int64) []byte {
	b := make([]byte, size)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// transfer sends data from c to its peer and returns what the peer read.
func (l *link) transfer(c *Conn, data []byte, limit time.Duration) []byte {
	l.t.Helper()
	var got []byte
	p := l.peer(c)
	end := l.now.Add(limit)
	for len(data) > 0 || len(got) < cap(got) {
		n, out, err := c.Write(l.now, data)
		if err != nil {
			l.t.Fatalf("write: %v", err)
		}
		data = data[n:]
		l.take(c, out)
		l.deliver()
		got = append(got, l.readAll(p)...)
		if len(data) == 0 {
			break
		}
		if n == 0 && !l.advance(end) {
			l.t.Fatalf("transfer stalled at %v with %d bytes left\n%s", l.now.Sub(t0), len(data), l.causes(c))
		}
	}
	for c.Unacknowledged() > 0 || p.Readable() > 0 {
		got = append(got, l.readAll(p)...)
		if c.Unacknowledged() == 0 {
			break
		}
		if !l.advance(end) {
			l.t.Fatalf("transfer: %d bytes never acknowledged by %v\n", c.Unacknowledged(), l.now.Sub(t0))
		}
	}
	return append(got, l.readAll(p)...)
}

func TestBulkTransfer(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"all options", Config{}},
		{"no options", Config{NoSACK: true, NoTimestamps: true, NoWindowScale: true}},
		{"small buffers", Config{SendBuffer: 8000, ReceiveBuffer: 5000}},
		{"no delay", Config{NoDelay: true, NoDelayedAck: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLink(t, &tc.cfg, &tc.cfg)
			l.handshake()
			data := pattern(1<<20, 1)
			got := l.transfer(l.a, data, time.Minute)
			if !bytes.Equal(got, data) {
				t.Fatalf("received %d bytes, want %d equal bytes", len(got), len(data))
			}
			back := pattern(300000, 2)
			if got := l.transfer(l.b, back, time.Minute); !bytes.Equal(got, back) {
				t.Fatalf("reverse: received %d bytes, want %d", len(got), len(back))
			}
			if l.a.Stats().Retransmits != 0 {
				t.Errorf("%d retransmissions on a lossless link", l.a.Stats().Retransmits)
			}
		})
	}
}

func TestTransferUnderLoss(t *testing.T) {
	for _, tc := range []struct {
		name string
		loss int // percent
		cfg  Config
	}{
		{"1% sack", 1, Config{}},
		{"5% sack", 5, Config{}},
		{"20% sack", 20, Config{}},
		{"5% newreno", 5, Config{NoSACK: true}},
		{"20% newreno no timestamps", 20, Config{NoSACK: true, NoTimestamps: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLink(t, &tc.cfg, &tc.cfg)
			l.handshake()
			rng := rand.New(rand.NewSource(int64(tc.loss)))
			l.drop = func(*Conn, *Segment) bool { return rng.Intn(100) < tc.loss }
			data := pattern(200000, 3)
			got := l.transfer(l.a, data, 30*time.Minute)
			if !bytes.Equal(got, data) {
				t.Fatalf("received %d bytes, want %d equal bytes", len(got), len(data))
			}
			if l.a.Stats().Retransmits == 0 {
				t.Errorf("no retransmissions at %d%% loss", tc.loss)
			}
		})
	}
}

func TestOutOfOrderSACK(t *testing.T) {
	// D3 at the machine level: the second of four segments is lost; the receiver
	// holds the rest, sends duplicate ACKs with SACK blocks, and the sender
	// retransmits exactly the hole.
	l := newLink(t, &Config{NoDelay: true}, nil)
	l.handshake()
	mss := l.a.sendMSS
	lost := false
	l.drop = func(c *Conn, s *Segment) bool {
		if c == l.a && !lost && s.Seq == l.a.iss+1+seqnumSize(mss) {
			lost = true
			return true
		}
		return false
	}
	data := pattern(6*mss, 4)
	n, out, _ := l.a.Write(l.now, data)
	if n != len(data) {
		t.Fatalf("wrote %d", n)
	}
	l.take(l.a, out)
	l.deliver()
	var sacks int
	for _, s := range l.sent[l.b] {
		if s.Options.NumSACK > 0 {
			sacks++
			if s.Ack != l.a.iss+1+seqnumSize(mss) {
				t.Errorf("dup ACK %d, want the hole at %d", s.Ack, l.a.iss+1+seqnumSize(mss))
			}
		}
	}
	if sacks != 4 {
		t.Errorf("%d ACKs with SACK blocks, want 4 (one per out-of-order segment)", sacks)
	}
	if got := l.readAll(l.b); !bytes.Equal(got, data) {
		t.Fatalf("receiver has %d bytes, want %d\n%s", len(got), len(data), l.causes(l.a))
	}
	if st := l.a.Stats(); st.FastRetransmits != 1 || st.Retransmits != 1 || st.Timeouts != 0 {
		t.Errorf("stats %+v, want one fast retransmission of the one hole and no timeout", st)
	}
}

func seqnumSize(n int) seqnum.Value { return seqnum.Value(n) }

func TestRTOBackoff(t *testing.T) {
	// D3: everything after the handshake is lost; retransmissions come at RTO,
	// 2·RTO, 4·RTO… and finally ETIMEDOUT after Retries.
	l := newLink(t, &Config{Retries: 4}, nil)
	l.handshake()
	l.drop = func(c *Conn, s *Segment) bool { return true }
	_, out, _ := l.a.Write(l.now, []byte("hello"))
	l.take(l.a, out)
	start := l.now
	l.runFor(10 * time.Minute)
	var times []time.Duration
	for _, e := range l.events[l.a] {
		if e.Kind == EventSegmentSent && e.Cause == "retransmission" {
			times = append(times, e.Time.Sub(start))
		}
	}
	if len(times) != 4 {
		t.Fatalf("%d retransmissions, want 4:\n%s", len(times), l.causes(l.a))
	}
	for i := 1; i < len(times); i++ {
		gap, prev := times[i]-times[i-1], times[i-1]
		if i > 1 {
			prev = times[i-1] - times[i-2]
		}
		if gap != 2*prev {
			t.Errorf("gap %d = %v, want twice %v", i, gap, prev)
		}
	}
	if l.a.State() != Closed || l.a.Err() == nil {
		t.Errorf("after retries: %v, %v; want CLOSED, ETIMEDOUT", l.a.State(), l.a.Err())
	}
}

func TestMaxSegment(t *testing.T) {
	// With MaxSegment the machine emits multi-MSS segments of new data (for GSO)
	// and the transfer is unchanged; retransmissions stay one MSS.
	l := newLink(t, &Config{MaxSegment: 65536}, nil)
	l.handshake()
	data := pattern(500000, 8)
	if got := l.transfer(l.a, data, time.Minute); !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes", len(got))
	}
	big := 0
	for _, s := range l.sent[l.a] {
		if len(s.Payload) > l.a.sendMSS {
			big++
			if len(s.Payload)%l.a.sendMSS != 0 && s.Flags&header.TCPFlagPSH == 0 {
				t.Errorf("segment of %d bytes is not a whole number of MSS", len(s.Payload))
			}
		}
	}
	if big == 0 {
		t.Errorf("no segment above the MSS")
	}
}
