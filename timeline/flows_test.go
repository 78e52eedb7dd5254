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
	type frame struct {
		client bool
		seq    uint32
		ack    uint32
		flags  string
	}
	type got struct {
		Flow           int
		RelSeq, RelAck uint32
		HasRelAck      bool
	}
	cases := []struct {
		name   string
		frames []frame
		want   []got
	}{{
		name: "simultaneous open, the server's SYN first",
		frames: []frame{
			{false, 5000, 0, "S"},
			{true, 1000, 0, "S"},
			{false, 5000, 1001, "S."},
			{true, 1000, 5001, "S."},
			{true, 1001, 5001, "R."},
		},
		want: []got{{1, 0, 0, false}, {1, 0, 0, false}, {1, 0, 1, true}, {1, 0, 1, true}, {1, 1, 1, true}},
	}, {
		name: "simultaneous open, the client's SYN first",
		frames: []frame{
			{true, 1000, 0, "S"},
			{false, 5000, 0, "S"},
			{true, 1000, 5001, "S."},
			{false, 5000, 1001, "S."},
		},
		want: []got{{1, 0, 0, false}, {1, 0, 0, false}, {1, 0, 1, true}, {1, 0, 1, true}},
	}, {
		name: "SYN retransmitted, then answered",
		frames: []frame{
			{true, 1000, 0, "S"},
			{true, 1000, 0, "S"},
			{false, 5000, 1001, "S."},
		},
		want: []got{{1, 0, 0, false}, {1, 0, 0, false}, {1, 0, 1, true}},
	}, {
		name: "a new connection on the 4-tuple after a reset",
		frames: []frame{
			{true, 1000, 0, "S"},
			{false, 0, 1001, "R."},
			{true, 9000, 0, "S"},
			{false, 7000, 9001, "S."},
		},
		want: []got{{1, 0, 0, false}, {1, 0, 1, true}, {2, 0, 0, false}, {2, 0, 1, true}},
	}, {
		name: "the other side's first SYN after the first connection's answer",
		frames: []frame{
			{true, 1000, 0, "S"},
			{false, 5000, 1001, "S."},
			{false, 8000, 0, "S"},
		},
		want: []got{{1, 0, 0, false}, {1, 0, 1, true}, {2, 0, 0, false}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			c := newCapture(start, []Endpoint{{"client", "eth0", -1}})
			var out []got
			for i, f := range tc.frames {
				// All on the client's end: each frame is one copy, sent or received.
				fr := c.add(start.Add(time.Duration(i)*time.Millisecond), 0, tcpFrame(t, f.client, f.seq, f.ack, f.flags, 0), f.client)
				g := got{Flow: fr.Flow, RelSeq: fr.RelSeq}
				if strings.Contains(f.flags, ".") { // a bare SYN's ack field means nothing
					g.RelAck, g.HasRelAck = fr.RelAck, fr.HasRelAck
				}
				out = append(out, g)
			}
			if d := cmp.Diff(tc.want, out); d != "" {
				t.Errorf("flows and relative numbers (-want +got):\n%s", d)
			}
		})
	}
}
