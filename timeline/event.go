package timeline

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/pktlab/pktlab/agent"
	"github.com/pktlab/pktlab/rawsock"
)

// Kind says what an event records.
type Kind int

// Event kinds.
const (
	KindFrame   Kind = iota + 1 // a frame on a captured link
	KindCall                    // a socket agent call
	KindState                   // a TCP state change (kernel via sock_diag, or userspace)
	KindVerdict                 // an nftables trace verdict
	KindCT                      // a conntrack event
	KindStep                    // an experiment step began
	KindNote                    // anything else worth a line
)

var kindNames = map[Kind]string{KindFrame: "frame", KindCall: "call", KindState: "state",
	KindVerdict: "verdict", KindCT: "conntrack", KindStep: "step", KindNote: "note"}

func (k Kind) String() string { return kindNames[k] }

// Event is one entry of the timeline.
type Event struct {
	Time  time.Time
	Kind  Kind
	Node  string
	Frame *Frame      // KindFrame
	Call  *agent.Call // KindCall
	Text  string      // KindState, KindVerdict, KindCT, KindStep, KindNote
}

// Frame is a captured frame.
type Frame struct {
	Iface  string // interface name within Node
	Index  int    // capture interface index (pcapng interface id)
	Data   []byte
	Packet Packet // decoded
	Out    bool   // sent by this node (PACKET_OUTGOING), not received
	Dup    bool   // the same frame is also recorded on the other end of the link, and this is the receiver's copy
	Flow   int    // flow number (1-based), 0 when not TCP/UDP
	RelSeq uint32 // sequence number relative to the flow direction's first
	RelAck uint32
	Text   string // the tcpdump -n line rawsock's Summarizer prints for it on this interface
	NAT    string // "was a.p > b.q": the same packet entered this node with other addresses
	pair   *Frame // the copy on the other end of the link
}

// Endpoint is a captured interface.
type Endpoint struct {
	Node, Iface string
	Peer        int // index of the other end of the link, -1 if not captured
}

func (e Endpoint) String() string { return e.Node + ":" + e.Iface }

// Timeline collects events from concurrent producers.
type Timeline struct {
	Start     time.Time
	Endpoints []Endpoint

	mu     sync.Mutex // guards events, flows and sums
	events []Event
	flows  flowTable
	sums   map[int]*rawsock.Summarizer // per endpoint, as tcpdump on that interface
}

// New returns a timeline starting now with the captured endpoints.
func New(start time.Time, eps []Endpoint) *Timeline {
	return &Timeline{Start: start, Endpoints: eps, flows: flowTable{byKey: map[flowKey]*flow{}}, sums: map[int]*rawsock.Summarizer{}}
}

// AddFrame records a frame captured on endpoint idx at time t, sent by that node (out)
// or received; it decodes the frame and assigns its flow and relative numbers. When the
// other end of the link recorded the same bytes within a few milliseconds, the
// receiver's copy is marked Dup, so each frame on a link is shown and counted once.
func (tl *Timeline) AddFrame(t time.Time, idx int, data []byte, out bool) {
	ep := tl.Endpoints[idx]
	f := &Frame{Iface: ep.Iface, Index: idx, Data: data, Packet: Decode(data), Out: out}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if ep.Peer >= 0 {
		for i := len(tl.events) - 1; i >= 0; i-- {
			e := tl.events[i]
			if t.Sub(e.Time) > 20*time.Millisecond {
				break
			}
			if e.Kind == KindFrame && e.Frame.Index == ep.Peer && !e.Frame.Dup && string(e.Frame.Data) == string(data) && !tl.claimed(i) {
				if out && !e.Frame.Out {
					e.Frame.Dup = true // keep the sender's copy as the one shown
				} else {
					f.Dup = true
				}
				f.pair = e.Frame
				break
			}
		}
	}
	tl.flows.assign(f)
	tl.markNAT(t, ep, f)
	sum := tl.sums[idx]
	if sum == nil {
		sum = rawsock.NewSummarizer()
		tl.sums[idx] = sum
	}
	f.Text = string(sum.AppendHeaders(nil, &f.Packet.Headers)) // the headers Decode made: the frame is decoded once
	tl.events = append(tl.events, Event{Time: t, Kind: KindFrame, Node: ep.Node, Frame: f})
}

// claimed reports whether frame event i is already paired with a copy recorded after it.
func (tl *Timeline) claimed(i int) bool {
	for j := i + 1; j < len(tl.events); j++ {
		if e := tl.events[j]; e.Kind == KindFrame && e.Frame.pair == tl.events[i].Frame {
			return true
		}
	}
	return false
}

// AddCall records an agent call at its completion time.
func (tl *Timeline) AddCall(c agent.Call) {
	tl.add(Event{Time: c.Start.Add(c.Dur), Kind: KindCall, Node: c.Node, Call: &c})
}

// Add records any other event.
func (tl *Timeline) Add(t time.Time, k Kind, node, text string) {
	tl.add(Event{Time: t, Kind: k, Node: node, Text: text})
}

func (tl *Timeline) add(e Event) {
	tl.mu.Lock()
	tl.events = append(tl.events, e)
	tl.mu.Unlock()
}

// Events returns the events sorted by time (stable, so simultaneous events keep the
// order they were recorded in).
func (tl *Timeline) Events() []Event {
	tl.mu.Lock()
	out := append([]Event(nil), tl.events...)
	tl.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Frames returns the frame events in time order.
func (tl *Timeline) Frames() []Event {
	var out []Event
	for _, e := range tl.Events() {
		if e.Kind == KindFrame {
			out = append(out, e)
		}
	}
	return out
}

// markNAT notes a frame leaving a node that is a packet the node received on another
// interface with other addresses or ports: a NAT rewrite (same IPv4 ID, protocol, TCP
// sequence, acknowledgment and flags, or UDP length). The two copies reach the timeline
// in either order (one capture socket per interface), so f is compared both ways.
func (tl *Timeline) markNAT(t time.Time, ep Endpoint, f *Frame) {
	p := &f.Packet
	if (p.Proto != "tcp" && p.Proto != "udp") || !p.Src.Is4() {
		return
	}
	for i := len(tl.events) - 1; i >= 0; i-- {
		e := tl.events[i]
		if d := t.Sub(e.Time); d > 50*time.Millisecond || d < -50*time.Millisecond {
			if d > 0 {
				return
			}
			continue
		}
		if e.Kind != KindFrame || e.Frame.Out == f.Out || e.Node != ep.Node || tl.Endpoints[e.Frame.Index].Iface == ep.Iface {
			continue
		}
		q := &e.Frame.Packet
		same := q.Proto == p.Proto && q.IPID == p.IPID && q.PayloadLen == p.PayloadLen &&
			q.Seq == p.Seq && q.Ack == p.Ack && q.Flags == p.Flags
		moved := q.Src != p.Src || q.Dst != p.Dst || q.SPort != p.SPort || q.DPort != p.DPort
		if !same || !moved {
			continue
		}
		in, out, inEP := q, f, tl.Endpoints[e.Frame.Index]
		if !f.Out {
			in, out, inEP = p, e.Frame, ep
		}
		out.NAT = fmt.Sprintf("%s:%d > %s:%d on %s", in.Src, in.SPort, in.Dst, in.DPort, inEP)
		return
	}
}
