package experiment

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/timeline"
)

func TestAckStats(t *testing.T) {
	cli, srv := netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.1.1")
	t0 := time.Unix(1000, 0)
	var evs []timeline.Event
	at := func(ms float64, idx int, fromClient bool, flags string, seq, ack uint32, n int) *timeline.Frame {
		p := timeline.Packet{Proto: "tcp", Flags: tcpFlags(flags), PayloadLen: n, Src: srv, Dst: cli, SPort: 80, DPort: 40000}
		if fromClient {
			p.Src, p.Dst, p.SPort, p.DPort = cli, srv, 40000, 80
		}
		f := &timeline.Frame{Index: idx, Flow: 1, Packet: p, RelSeq: seq, RelAck: ack}
		evs = append(evs, timeline.Event{Time: t0.Add(time.Duration(ms * float64(time.Millisecond))), Data: f})
		return f
	}
	at(0, 0, true, ".", 1, 1, 100)
	quick := at(0.1, 0, false, ".", 1, 101, 0)
	at(1, 0, true, ".", 101, 1, 1448)
	at(1.5, 1, true, ".", 1449, 1, 1448) // another interface: not counted
	at(2, 0, true, ".", 1549, 1, 1448)
	pair := at(2.02, 0, false, ".", 1, 2997, 0)
	dup := at(3, 0, false, ".", 1, 2997, 0)
	at(4, 0, true, "P.", 2997, 1, 100)
	at(30, 0, true, "P.", 2997, 1, 100) // retransmitted: counts once, delay from this copy
	late := at(70, 0, false, ".", 1, 3097, 0)
	got := ackStats(evs, 0)
	for _, tc := range []struct {
		name string
		f    *timeline.Frame
		want ackStat
	}{
		{"quick ACK of one segment", quick, ackStat{1, 100 * time.Microsecond}},
		{"one ACK for two segments", pair, ackStat{2, 20 * time.Microsecond}},
		{"duplicate ACK acks nothing new", dup, ackStat{}},
		{"retransmitted segment counted once", late, ackStat{1, 40 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if g := got[tc.f]; g != tc.want {
				t.Errorf("got %v, want %v", g, tc.want)
			}
		})
	}
	c := ackDelayCond{&AckDelay{Min: 30 * time.Millisecond, Max: 200 * time.Millisecond}}
	holds := func(f *timeline.Frame) bool { return c.holds(&view{ack: got[f]}) }
	if holds(quick) || !holds(late) || holds(dup) {
		t.Errorf("ack_delay 30ms–200ms: quick %v, late %v, dup %v", holds(quick), holds(late), holds(dup))
	}
}

// tcpFlags reads a flag set written in tcpdump letters (S F R P U E W and . for ACK).
func tcpFlags(s string) header.TCPFlags {
	var f header.TCPFlags
	for _, c := range s {
		f |= map[rune]header.TCPFlags{'S': header.TCPFlagSYN, 'F': header.TCPFlagFIN, 'R': header.TCPFlagRST, 'P': header.TCPFlagPSH,
			'U': header.TCPFlagURG, 'E': header.TCPFlagECE, 'W': header.TCPFlagCWR, '.': header.TCPFlagACK}[c]
	}
	return f
}
