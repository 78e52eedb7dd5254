package timeline

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestFlowsPerConnection: a flow number is one TCP connection. A simultaneous open
// (both ends send a bare SYN, then both a SYN-ACK, as C5-us-us does) is one flow with
// each side's numbers relative to its own SYN; a SYN sent again with its sequence
// number is a retransmission; a bare SYN with another sequence number from a side
// that already sent is a new connection on the 4-tuple.
func TestFlowsPerConnection(t *testing.T) {
	// A frame from the client (c) or the server, and the flow and relative numbers it
	// gets; the ack only where the frame's ACK flag makes it mean something.
	type frame struct {
		client     bool
		seq, ack   uint32
		flags      string
		flow       int
		relSeq     uint32
		relAck     uint32
		meaningful bool
	}
	const c, s = true, false
	cases := []struct {
		name   string
		frames []frame
	}{
		{"simultaneous open, the server's SYN first", []frame{
			{s, 5000, 0, "S", 1, 0, 0, false}, {c, 1000, 0, "S", 1, 0, 0, false},
			{s, 5000, 1001, "S.", 1, 0, 1, true}, {c, 1000, 5001, "S.", 1, 0, 1, true},
			{c, 1001, 5001, "R.", 1, 1, 1, true}}},
		{"simultaneous open, the client's SYN first", []frame{
			{c, 1000, 0, "S", 1, 0, 0, false}, {s, 5000, 0, "S", 1, 0, 0, false},
			{c, 1000, 5001, "S.", 1, 0, 1, true}, {s, 5000, 1001, "S.", 1, 0, 1, true}}},
		{"SYN retransmitted, then answered", []frame{
			{c, 1000, 0, "S", 1, 0, 0, false}, {c, 1000, 0, "S", 1, 0, 0, false},
			{s, 5000, 1001, "S.", 1, 0, 1, true}}},
		{"a new connection on the 4-tuple after a reset", []frame{
			{c, 1000, 0, "S", 1, 0, 0, false}, {s, 0, 1001, "R.", 1, 0, 1, true},
			{c, 9000, 0, "S", 2, 0, 0, false}, {s, 7000, 9001, "S.", 2, 0, 1, true}}},
		{"the other side's first SYN after the first connection's answer", []frame{
			{c, 1000, 0, "S", 1, 0, 0, false}, {s, 5000, 1001, "S.", 1, 0, 1, true},
			{s, 8000, 0, "S", 2, 0, 0, false}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			cp := newCapture(start, []Endpoint{{"client", "eth0", -1}})
			var want, got []frame
			for i, f := range tc.frames {
				// All on the client's end: each frame is one copy, sent or received.
				fr := cp.add(start.Add(time.Duration(i)*time.Millisecond), 0, tcpFrame(t, f.client, f.seq, f.ack, f.flags, 0), f.client)
				g := f
				g.flow, g.relSeq, g.relAck, g.meaningful = fr.Flow, fr.RelSeq, 0, false
				if strings.Contains(f.flags, ".") {
					g.relAck, g.meaningful = fr.RelAck, fr.HasRelAck
				}
				want, got = append(want, f), append(got, g)
			}
			if d := cmp.Diff(want, got, cmp.AllowUnexported(frame{})); d != "" {
				t.Errorf("flows and relative numbers (-want +got):\n%s", d)
			}
		})
	}
}
