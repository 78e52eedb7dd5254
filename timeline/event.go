package timeline

import (
	"sort"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
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
	sum := tl.sums[idx]
	if sum == nil {
		sum = rawsock.NewSummarizer()
		tl.sums[idx] = sum
	}
	f.Text = string(sum.Append(nil, layers.LinkTypeEthernet, data))
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
