package experiment

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/sockdiag"
	"github.com/pktlab/pktlab/timeline"
)

// TestHeldSynSentTakesItsSYN: a CLOSE → SYN_SENT the tracer reports with local port
// 0 goes on the timeline, at its own time, as soon as the one SYN its connect() can
// have sent is seen (before the change or after it), with that SYN's source port;
// a SYN sent again, one of a socket whose port the tracer gave, one of another node
// or one from before the change is not that SYN; where two connects to one peer are
// held at once a SYN cannot tell whose it is, and each waits for its socket's next
// event.
func TestHeldSynSentTakesItsSYN(t *testing.T) {
	t0 := time.Unix(1000, 0)
	peer := netip.MustParseAddrPort("198.18.1.1:80")
	addr := netip.MustParseAddr("198.18.1.2")
	port := func(p uint16) netip.AddrPort { return netip.AddrPortFrom(addr, p) }
	type step struct {
		us   int    // µs after t0
		sock uint64 // a state change of this socket (0: a SYN frame)
		from sockdiag.State
		to   sockdiag.State
		port uint16 // the change's local port, or the SYN's source port
		node string // the SYN's node (client if empty)
		seq  uint32 // the SYN's sequence number
	}
	syn := func(us int, p uint16, seq uint32) step { return step{us: us, port: p, seq: seq} }
	change := func(us int, sock uint64, from, to sockdiag.State, p uint16) step {
		return step{us: us, sock: sock, from: from, to: to, port: p}
	}
	type seen struct {
		US   int // its time, µs after t0
		Path string
		Port uint16
		At   int // the step after which it was on the timeline
	}
	cases := []struct {
		name  string
		steps []step
		want  []seen
	}{{
		name:  "the SYN after the change",
		steps: []step{change(10, 1, sockdiag.Close, sockdiag.SynSent, 0), syn(20, 40001, 7)},
		want:  []seen{{10, "CLOSE→SYN_SENT", 40001, 1}},
	}, {
		name:  "the SYN before the change",
		steps: []step{syn(20, 40001, 7), change(10, 1, sockdiag.Close, sockdiag.SynSent, 0)},
		want:  []seen{{10, "CLOSE→SYN_SENT", 40001, 1}},
	}, {
		name: "a SYN sent again is not the next socket's",
		steps: []step{change(10, 1, sockdiag.Close, sockdiag.SynSent, 0), syn(20, 40001, 7),
			change(30, 2, sockdiag.Close, sockdiag.SynSent, 0), syn(1000040, 40001, 7), syn(50, 40002, 9)},
		want: []seen{{10, "CLOSE→SYN_SENT", 40001, 1}, {30, "CLOSE→SYN_SENT", 40002, 4}},
	}, {
		name: "a bound socket's SYN is its own",
		steps: []step{syn(20, 40000, 5), change(10, 3, sockdiag.Close, sockdiag.SynSent, 40000),
			change(30, 1, sockdiag.Close, sockdiag.SynSent, 0), change(60, 1, sockdiag.SynSent, sockdiag.Established, 40001)},
		want: []seen{{10, "CLOSE→SYN_SENT", 40000, 1}, {30, "CLOSE→SYN_SENT", 40001, 3}, {60, "SYN_SENT→ESTABLISHED", 40001, 3}},
	}, {
		name: "another node's SYN, a SYN from before",
		steps: []step{change(5000, 1, sockdiag.Close, sockdiag.SynSent, 0), {us: 5010, port: 40001, seq: 7, node: "server"},
			syn(10, 40001, 8), change(5100, 1, sockdiag.SynSent, sockdiag.Close, 40001)},
		want: []seen{{5000, "CLOSE→SYN_SENT", 40001, 3}, {5100, "SYN_SENT→CLOSE", 40001, 3}},
	}, {
		name: "two connects to one peer at once",
		steps: []step{change(10, 1, sockdiag.Close, sockdiag.SynSent, 0), change(11, 2, sockdiag.Close, sockdiag.SynSent, 0),
			syn(20, 40001, 7), syn(21, 40002, 9),
			change(40, 2, sockdiag.SynSent, sockdiag.Established, 40002), change(41, 1, sockdiag.SynSent, sockdiag.Established, 40001)},
		want: []seen{{11, "CLOSE→SYN_SENT", 40002, 4}, {40, "SYN_SENT→ESTABLISHED", 40002, 4},
			{10, "CLOSE→SYN_SENT", 40001, 5}, {41, "SYN_SENT→ESTABLISHED", 40001, 5}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := &kernelEvents{tl: timeline.New(t0, nil), pending: map[uint64]heldState{}}
			var got []seen
			on := map[timeline.Data]bool{}
			for i, s := range tc.steps {
				at := t0.Add(time.Duration(s.us) * time.Microsecond)
				if s.sock != 0 {
					k.add(&ktrace.StateChange{Header: ktrace.Header{Time: at, Node: "client", Sock: s.sock},
						Tuple: ktrace.Tuple{Local: port(s.port), Remote: peer}, Old: s.from, New: s.to, Protocol: 6})
				} else {
					node := s.node
					if node == "" {
						node = "client"
					}
					p := timeline.Packet{Proto: "tcp", Src: addr, SPort: int(s.port), Dst: peer.Addr(), DPort: int(peer.Port()), Seq: s.seq, Flags: header.TCPFlagSYN}
					k.frame(at, node, &timeline.Frame{Out: true, Packet: p})
				}
				for _, e := range k.tl.Events() { // in time order
					if st := e.Data.(*timeline.KernelState); !on[st] {
						on[st] = true
						got = append(got, seen{int(e.Time.Sub(t0) / time.Microsecond), st.From + "→" + st.To, st.Local.Port(), i})
					}
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("changes on the timeline, and after which step (-want +got):\n%s", d)
			}
		})
	}
}
