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

// BenchmarkRunPath is the whole path of a captured frame in `pktlab run`
// (experiment's capture), per frame: read from a TPACKET_V3 ring into the read buffer
// (Conn.ReadFrame's ring reader), decoded once there, summarized from its headers,
// copied out, and appended to the timeline as a frame event with those headers
// (Timeline.AddFrame). Frames are 100 ms apart, so that the timeline's look-back for
// NAT pairs (50 ms) meets one earlier frame, as on a lab link; a timeline holds 4096
// frames, then the next one starts.
func BenchmarkRunPath(b *testing.B) {
	fs := runFrames(b)
	t0 := time.Unix(1000, 0)
	c := rawsock.RingOf(fs, t0)
	eps := []timeline.Endpoint{{Node: "client", Iface: "eth0", Peer: -1}}
	tl := timeline.New(t0, eps)
	buf := make([]byte, 2048)
	s := rawsock.NewSummarizer()
	var line []byte
	var h decode.Headers
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		f, ok := c.RingRead(buf)
		if !ok {
			c.RingRefill()
			f, _ = c.RingRead(buf)
		}
		if n++; n%4096 == 0 {
			tl = timeline.New(t0, eps)
		}
		if err := h.Decode(layers.LinkTypeEthernet, f.Data); err != nil {
			b.Fatal(err)
		}
		line = s.AppendHeaders(line[:0], &h)
		data := bytes.Clone(f.Data)
		tl.AddFrame(timeline.Captured{Time: f.Time.Add(time.Duration(n) * 100 * time.Millisecond), Data: data, Line: string(line), Headers: h.On(data)})
	}
	if len(tl.Events()) == 0 {
		b.Fatal("no frame event")
	}
}

// BenchmarkRunPathDecodeSummary is BenchmarkDecodeSummary over BenchmarkRunPath's
// frames, to set the two side by side.
func BenchmarkRunPathDecodeSummary(b *testing.B) { benchDecodeSummary(b, runFrames(b), false) }
