package timeline

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestPairingIgnoresOrderAndDelay feeds the two copies of a handshake on one link the
// way a late ring block does (issue 13: once in four runs of G1 every handshake frame
// appeared twice, 35 ms after connect() = 0): all of one end's copies first, then the
// other end's, stamped 35 ms later, with other events between. Each frame must be
// shown once and counted once, whichever end comes first.
func TestPairingIgnoresOrderAndDelay(t *testing.T) {
	for _, tc := range []struct {
		name       string
		senderLate bool
	}{{"receiver copies late", false}, {"sender copies late", true}} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			c := newCapture(start, []Endpoint{{"client", "eth0", 1}, {"server", "eth0", 0}})
			// The client sends the SYN and the ACK, the server the SYN-ACK: each
			// frame's sender copy is on its sender's interface.
			frames := []struct {
				client      bool
				seq, ack    uint32
				flags       string
				senderIndex int
			}{{true, 1000, 0, "S", 0}, {false, 5000, 1001, "S.", 1}, {true, 1001, 5001, ".", 0}}
			copyOf := func(i int, sender bool) {
				f := frames[i]
				idx, at := f.senderIndex, time.Duration(i)*100*time.Microsecond
				if !sender {
					idx = 1 - idx
					at += 10 * time.Microsecond
				}
				if sender == tc.senderLate {
					at += 35 * time.Millisecond
				}
				c.add(start.Add(at), idx, tcpFrame(t, f.client, f.seq, f.ack, f.flags, 0), sender)
			}
			for i := range frames {
				copyOf(i, !tc.senderLate)
			}
			c.tl.AddCall(Call{Start: start, Dur: 25 * time.Millisecond, Node: "client", Sock: "c", Op: "connect", Args: "198.18.1.1:80"})
			c.tl.Note(start.Add(30*time.Millisecond), "", "something between")
			for i := range frames {
				copyOf(i, tc.senderLate)
			}
			var b bytes.Buffer
			if err := c.tl.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			text := b.String()
			if n := strings.Count(text, "[f1]"); n != 3+1 { // three frames and the flow index
				t.Errorf("%d lines tagged [f1], want 3 frames and the index:\n%s", n, text)
			}
			if !strings.Contains(text, "3 frame(s)") {
				t.Errorf("flow index does not count 3 frames:\n%s", text)
			}
			for _, e := range c.tl.Frames() {
				if f := e.Frame(); f.Dup == f.Out {
					t.Errorf("frame on %s out=%v dup=%v: the receiver's copy must be the duplicate", c.tl.Endpoints[f.Index], f.Out, f.Dup)
				}
			}
		})
	}
}

// TestPairingFirstWithFirst: a frame sent twice with the same bytes (a retransmission)
// pairs its copies first with first, with the second sender copy arriving before the
// first receiver copy.
func TestPairingFirstWithFirst(t *testing.T) {
	start := time.Unix(1000, 0)
	c := newCapture(start, []Endpoint{{"client", "eth0", 1}, {"server", "eth0", 0}})
	syn := tcpFrame(t, true, 1000, 0, "S", 0)
	a1 := c.add(start, 0, syn, true)
	a2 := c.add(start.Add(time.Second), 0, syn, true)
	b1 := c.add(start.Add(10*time.Microsecond), 1, syn, false)
	b2 := c.add(start.Add(time.Second+10*time.Microsecond), 1, syn, false)
	if a1.pair != b1 || a2.pair != b2 {
		t.Errorf("pairs: a1-%p a2-%p, want b1 %p and b2 %p", a1.pair, a2.pair, b1, b2)
	}
	if !b1.Dup || !b2.Dup || a1.Dup || a2.Dup {
		t.Errorf("dup: a1 %v a2 %v b1 %v b2 %v, want the receiver's copies", a1.Dup, a2.Dup, b1.Dup, b2.Dup)
	}
}

// TestPairingBounded: copies whose twin never comes are forgotten beyond
// maxUnpaired, oldest first, so a capture that drops frames on one end cannot make
// the table grow without bound.
func TestPairingBounded(t *testing.T) {
	start := time.Unix(1000, 0)
	tl := New(start, []Endpoint{{"client", "eth0", 1}, {"server", "eth0", 0}})
	frame := func(i int) []byte {
		b := make([]byte, 60)
		b[12], b[13] = 0x88, 0xb5 // local experimental EtherType: no decoding
		b[20], b[21], b[22] = byte(i), byte(i>>8), byte(i>>16)
		return b
	}
	n := maxUnpaired + 100
	for i := 0; i < n; i++ {
		tl.AddFrame(Captured{Time: start.Add(time.Duration(i)), Index: 0, Data: frame(i), Out: true})
	}
	if tl.pairs.n != maxUnpaired || len(tl.pairs.order) > 2*maxUnpaired {
		t.Fatalf("%d waiting, order %d; want %d, at most %d", tl.pairs.n, len(tl.pairs.order), maxUnpaired, 2*maxUnpaired)
	}
	old := tl.AddFrame(Captured{Time: start, Index: 1, Data: frame(0)})
	recent := tl.AddFrame(Captured{Time: start, Index: 1, Data: frame(n - 1)})
	if old.pair != nil || recent.pair == nil {
		t.Errorf("the oldest copy should be forgotten (paired %v) and the newest kept (paired %v)", old.pair != nil, recent.pair != nil)
	}
}
