package tcpstate

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate/seqnum"
)

var (
	addrA = netip.MustParseAddrPort("198.18.0.1:40000")
	addrB = netip.MustParseAddrPort("198.18.0.2:80")
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// wire is a segment in flight on the in-memory link.
type wire struct {
	from, to *Conn
	seg      Segment
}

// link joins two machines with a manual clock. Segments are copied (payload too) as
// they are sent, like a real wire.
type link struct {
	t        testing.TB
	now      time.Time
	a, b     *Conn
	inflight []wire
	sent     map[*Conn][]Segment
	events   map[*Conn][]Event
	// drop, if set, decides whether a segment is lost on the wire.
	drop func(from *Conn, seg *Segment) bool
}

func newLink(t testing.TB, cfgA, cfgB *Config) *link {
	l := &link{t: t, now: t0, sent: map[*Conn][]Segment{}, events: map[*Conn][]Event{}}
	l.a = New(cfgA, addrA, addrB, t0)
	l.b = New(cfgB, addrB, addrA, t0)
	return l
}

func (l *link) peer(c *Conn) *Conn {
	if c == l.a {
		return l.b
	}
	return l.a
}

// take records an Output of c and puts its segments on the wire.
func (l *link) take(c *Conn, out Output) {
	recordTransitions(out.Events)
	l.events[c] = append(l.events[c], out.Events...)
	for _, s := range out.Segments {
		s.Payload = append([]byte(nil), s.Payload...)
		l.sent[c] = append(l.sent[c], s)
		if l.drop != nil && l.drop(c, &s) {
			continue
		}
		l.inflight = append(l.inflight, wire{from: c, to: l.peer(c), seg: s})
	}
}

// deliver hands every segment in flight to its receiver until the wire is empty.
func (l *link) deliver() {
	for n := 0; len(l.inflight) > 0; n++ {
		if n > 1e6 {
			l.t.Fatal("link: segments never stop")
		}
		w := l.inflight[0]
		l.inflight = l.inflight[1:]
		l.take(w.to, w.to.HandleSegment(l.now, &w.seg))
	}
}

// advance moves the clock to the earliest deadline (if not later than limit),
// fires it and delivers what follows. It reports whether a timer fired.
func (l *link) advance(limit time.Time) bool {
	var next time.Time
	for _, c := range []*Conn{l.a, l.b} {
		if d := c.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	if next.IsZero() || next.After(limit) {
		return false
	}
	if next.After(l.now) {
		l.now = next
	}
	for _, c := range []*Conn{l.a, l.b} {
		if d := c.NextDeadline(); !d.IsZero() && !d.After(l.now) {
			l.take(c, c.OnTimer(l.now))
		}
	}
	l.deliver()
	return true
}

// runFor fires timers and delivers segments for d of simulated time.
func (l *link) runFor(d time.Duration) {
	limit := l.now.Add(d)
	for i := 0; l.advance(limit); i++ {
		if i > 1e6 {
			l.t.Fatal("link: timers never stop")
		}
	}
	l.now = limit
}

// until runs timers until cond holds or d of simulated time passes.
func (l *link) until(d time.Duration, cond func() bool) bool {
	limit := l.now.Add(d)
	for !cond() {
		if !l.advance(limit) {
			return cond()
		}
	}
	return true
}

func (l *link) handshake() {
	l.t.Helper()
	o, _ := l.b.Listen(l.now)
	l.take(l.b, o)
	// The host clones a listening connection per SYN; on the in-memory link one
	// machine plays both roles.
	o, err := l.a.Connect(l.now)
	if err != nil {
		l.t.Fatal(err)
	}
	l.take(l.a, o)
	l.deliver()
	if l.a.State() != Established || l.b.State() != Established {
		l.t.Fatalf("after handshake: a %v, b %v, want ESTABLISHED both", l.a.State(), l.b.State())
	}
}

// write queues all of p on c, running the link while the buffer is full.
func (l *link) write(c *Conn, p []byte) {
	for len(p) > 0 {
		n, out, err := c.Write(l.now, p)
		if err != nil {
			l.t.Fatalf("write: %v", err)
		}
		l.take(c, out)
		l.deliver()
		p = p[n:]
		if n == 0 && !l.advance(l.now.Add(time.Minute)) {
			l.t.Fatal("write: buffer full and no timer")
		}
	}
}

func (l *link) readAll(c *Conn) []byte {
	buf := make([]byte, c.Readable())
	n, out := c.Read(l.now, buf)
	l.take(c, out)
	l.deliver()
	return buf[:n]
}

// states lists c's state path: the To of every StateChanged event.
func (l *link) states(c *Conn) []State {
	var s []State
	for _, e := range l.events[c] {
		if e.Kind == EventStateChanged {
			s = append(s, e.To)
		}
	}
	return s
}

// causes joins the causes of c's events, for error messages.
func (l *link) causes(c *Conn) string {
	var b strings.Builder
	for _, e := range l.events[c] {
		fmt.Fprintf(&b, "  %v %s\n", e.Time.Sub(t0), e)
	}
	return b.String()
}

// seg is a packetimpact-style expectation: only set fields are compared.
type seg struct {
	Flags   header.TCPFlags
	Seq     *seqnum.Value
	Ack     *seqnum.Value
	Len     *int
	Window  *uint16
	NumSACK *int
}

func v(x seqnum.Value) *seqnum.Value { return &x }
func n(x int) *int                   { return &x }

// mismatch describes how got differs from the expectation, or returns "".
func (w seg) mismatch(got *Segment) string {
	var d []string
	if w.Flags != 0 && got.Flags != w.Flags {
		d = append(d, fmt.Sprintf("flags %v, want %v", got.Flags, w.Flags))
	}
	if w.Seq != nil && got.Seq != *w.Seq {
		d = append(d, fmt.Sprintf("seq %d, want %d", got.Seq, *w.Seq))
	}
	if w.Ack != nil && got.Ack != *w.Ack {
		d = append(d, fmt.Sprintf("ack %d, want %d", got.Ack, *w.Ack))
	}
	if w.Len != nil && len(got.Payload) != *w.Len {
		d = append(d, fmt.Sprintf("length %d, want %d", len(got.Payload), *w.Len))
	}
	if w.Window != nil && got.Window != *w.Window {
		d = append(d, fmt.Sprintf("window %d, want %d", got.Window, *w.Window))
	}
	if w.NumSACK != nil && got.Options.NumSACK != *w.NumSACK {
		d = append(d, fmt.Sprintf("%d SACK blocks, want %d", got.Options.NumSACK, *w.NumSACK))
	}
	return strings.Join(d, "; ")
}

// expect checks that out holds exactly the wanted segments, in order.
func expect(t *testing.T, what string, out Output, want ...seg) {
	t.Helper()
	if len(out.Segments) != len(want) {
		var got []string
		for _, s := range out.Segments {
			got = append(got, s.String())
		}
		t.Fatalf("%s: %d segments, want %d:\n  %s", what, len(out.Segments), len(want), strings.Join(got, "\n  "))
	}
	for i, w := range want {
		if m := w.mismatch(&out.Segments[i]); m != "" {
			t.Fatalf("%s: segment %d (%v): %s", what, i, &out.Segments[i], m)
		}
	}
}
