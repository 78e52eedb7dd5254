package rawsock_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/decode"
	"github.com/pktlab/pktlab/timeline"
)

// runFrames is what BenchmarkRunPath reads: a connection's SYN and then full-size
// data segments, one SYN in eight frames.
func runFrames(b *testing.B) [][]byte {
	syn, data := benchFrames(b)
	fs := [][]byte{syn}
	for range 7 {
		fs = append(fs, data)
	}
	return fs
}

// forwarded is frames as a router sends them on: the router's and the server's MAC
// addresses, TTL one less and the IPv4 header checksum redone (RFC 1071).
func forwarded(fs [][]byte) [][]byte {
	var out [][]byte
	for _, f := range fs {
		g := bytes.Clone(f)
		copy(g[0:6], macA)
		copy(g[6:12], macB)
		ip := g[14 : 14+int(g[14]&0xf)*4]
		ip[8]--
		ip[10], ip[11] = 0, 0
		var sum uint32
		for i := 0; i < len(ip); i += 2 {
			sum += uint32(ip[i])<<8 | uint32(ip[i+1])
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		ip[10], ip[11] = ^byte(sum>>8), ^byte(sum)
		out = append(out, g)
	}
	return out
}

// runCapture is one captured interface of BenchmarkRunPath: its ring, the read buffer
// and the decoded headers and summary line its capture goroutine reuses.
type runCapture struct {
	ring *rawsock.Conn
	buf  []byte
	sum  *rawsock.Summarizer
	h    decode.Headers
	line []byte
	out  bool
}

// record is one frame through experiment's capture callback (startCaptures in
// experiment/capture.go, kept in step with it): read from the ring into the read
// buffer, decoded once there, summarized from those headers, and handed to the
// timeline, which keeps its own copy of the bytes and the line.
func (c *runCapture) record(b *testing.B, tl *timeline.Timeline, idx int, at time.Time) {
	f, ok := c.ring.RingRead(c.buf)
	if !ok {
		c.ring.RingRefill()
		f, _ = c.ring.RingRead(c.buf)
	}
	if err := c.h.Decode(layers.LinkTypeEthernet, f.Data); err != nil {
		b.Fatal(err)
	}
	c.line = c.sum.AppendHeaders(c.line[:0], &c.h)
	tl.AddFrame(timeline.Captured{Time: at, Index: idx, Data: f.Data, Out: c.out, Line: c.line, Headers: c.h})
}

// BenchmarkRunPath is the whole path of a captured frame in `pktlab run`, per
// captured copy: read from a TPACKET_V3 ring (Conn.ReadFrame's ring reader), decoded
// once, summarized from its headers and recorded on the timeline as a frame event
// (experiment's capture callback, see record). A timeline holds 4096 copies, then
// the next one starts.
//
// lab is what a run of the catalogue does: a client, a router and a server, every
// end of both links captured (experiment captures both ends of every link by
// default), so each frame on the wire is four copies, one per interface, each read
// from its own ring by its own capture: the timeline pairs the two ends of each link
// and matches the router's way in and out (NAT). one-end is one captured interface
// alone, no pairing (BenchmarkRunPath as it was first written).
func BenchmarkRunPath(b *testing.B) {
	fs := runFrames(b)
	fwd := forwarded(fs)
	t0 := time.Unix(1000, 0)
	newCap := func(frames [][]byte, out bool) *runCapture {
		return &runCapture{ring: rawsock.RingOf(frames, t0), buf: make([]byte, 1<<18), sum: rawsock.NewSummarizer(), out: out}
	}
	b.Run("lab", func(b *testing.B) {
		eps := []timeline.Endpoint{{Node: "client", Iface: "eth0", Peer: 1}, {Node: "router", Iface: "eth0", Peer: 0},
			{Node: "router", Iface: "eth1", Peer: 3}, {Node: "server", Iface: "eth0", Peer: 2}}
		caps := []*runCapture{newCap(fs, true), newCap(fs, false), newCap(fwd, true), newCap(fwd, false)}
		runCopies(b, eps, caps)
	})
	b.Run("one-end", func(b *testing.B) {
		runCopies(b, []timeline.Endpoint{{Node: "client", Iface: "eth0", Peer: -1}}, []*runCapture{newCap(fs, true)})
	})
}

// runCopies records copies through caps in turn, each wire frame 100 µs after the one
// before and its copies one microsecond apart.
func runCopies(b *testing.B, eps []timeline.Endpoint, caps []*runCapture) {
	t0 := time.Unix(1000, 0)
	tl := timeline.New(t0, eps)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		i := n % len(caps)
		at := t0.Add(time.Duration(n/len(caps))*100*time.Microsecond + time.Duration(i)*time.Microsecond)
		caps[i].record(b, tl, i, at)
		if n++; n%4096 == 0 {
			tl = timeline.New(t0, eps)
		}
	}
	if len(tl.Events()) == 0 {
		b.Fatal("no frame event")
	}
}

// BenchmarkRunPathDecodeSummary is BenchmarkDecodeSummary over BenchmarkRunPath's
// frames, to set the two side by side.
func BenchmarkRunPathDecodeSummary(b *testing.B) { benchDecodeSummary(b, runFrames(b), false) }
