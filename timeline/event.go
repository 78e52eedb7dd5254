package timeline

import (
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/pktlab/pktlab/rawsock/decode"
)

// Kind says what an event records: the type of its Data.
type Kind int

// Event kinds.
const (
	KindFrame          Kind = iota + 1 // *Frame: a frame on a captured link
	KindCall                           // *Call: a socket agent call (or userspace TCP action, program run)
	KindKernelState                    // *KernelState: a kernel TCP socket changed state
	KindUserspaceState                 // *UserspaceState: pktlab's userspace TCP changed state
	KindVerdict                        // *Verdict: an nftables trace event
	KindConntrack                      // *Conntrack: a conntrack event
	KindStep                           // *Step: an experiment step began
	KindNote                           // *Note: anything else worth a line
	KindOutcome                        // *Outcome: an expectation's result
	KindRetransmit                     // *Retransmit: the kernel retransmitted a segment
	KindReset                          // *Reset: the kernel sent or received a RST
	KindDrop                           // *Drop: the kernel dropped a packet, with its reason
	KindCongestion                     // *CongestionSample: a TCP sender's congestion state
)

// kindNames are the kinds' names in JSON ("type") and packet comments.
var kindNames = [...]string{KindFrame: "frame", KindCall: "call", KindKernelState: "kernel_state",
	KindUserspaceState: "userspace_state", KindVerdict: "verdict", KindConntrack: "conntrack",
	KindStep: "step", KindNote: "note", KindOutcome: "outcome", KindRetransmit: "retransmit",
	KindReset: "reset", KindDrop: "drop", KindCongestion: "congestion"}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Event is one entry of the timeline: when, on which node ("" for the experiment
// itself), and its typed record.
type Event struct {
	Time time.Time
	Node string
	Data Data
}

// Kind is the kind of the event's record (0 for an event without one).
func (e Event) Kind() Kind {
	if e.Data == nil {
		return 0
	}
	return e.Data.Kind()
}

// Frame is the event's frame, or nil if it records something else.
func (e Event) Frame() *Frame {
	f, _ := e.Data.(*Frame)
	return f
}

// Frame is a captured frame.
type Frame struct {
	Iface  string // interface name within the event's node
	Index  int    // capture interface index (pcapng interface id)
	Data   []byte
	Packet Packet // decoded
	Out    bool   // sent by this node (PACKET_OUTGOING), not received
	Dup    bool   // the same frame is also recorded on the other end of the link, and this is the receiver's copy
	Flow   int    // flow number (1-based), 0 when not TCP/UDP
	RelSeq uint32 // sequence number relative to the flow direction's first
	RelAck uint32 // acknowledgment number relative to the other direction's first; see HasRelAck
	// HasRelAck says that the other direction's first sequence number was captured
	// before this frame, so RelAck means something: a SYN's ack field does not.
	HasRelAck bool
	Line      string // the tcpdump -n line rawsock's Summarizer printed for it on this interface
	NAT       *NAT   // the same packet entered this node with other addresses
	// Cause is why pktlab's userspace TCP sent (or dropped) the frame, citing the
	// rule, when the frame is its own.
	Cause string
	pair  *Frame // the copy on the other end of the link
	shown bool   // handed to a Stream: its Dup no longer changes
}

// Kind is KindFrame.
func (*Frame) Kind() Kind { return KindFrame }

// NAT is where a frame leaving a node came from: the same packet, received on another
// interface of the node with other addresses or ports.
type NAT struct {
	Src, Dst netip.AddrPort
	Endpoint int // the endpoint it was received on
}

// Endpoint is a captured interface.
type Endpoint struct {
	Node, Iface string
	Peer        int // index of the other end of the link, -1 if not captured
}

func (e Endpoint) String() string { return e.Node + ":" + e.Iface }

// Captured is a frame as a capture hands it to the timeline, after decode and
// summary (the path of a frame in docs/architecture.md). Data and Line are the
// capture's buffers: the timeline keeps copies of them, so the capture reuses both
// for its next frame.
type Captured struct {
	Time  time.Time
	Index int    // the endpoint it was captured on
	Data  []byte // the frame
	Out   bool   // sent by the endpoint's node (PACKET_OUTGOING)
	Line  []byte // the tcpdump -n line for it on that interface (rawsock.Summarizer)
	// Headers are the frame's headers as the capture decoded them from Data, the
	// zero value if it did not: Data is then decoded here. The timeline carries them
	// over to its copy (decode.Headers.On).
	Headers decode.Headers
	Cause   string // why pktlab's userspace TCP sent or dropped it, if it is its frame
}

// Timeline collects events from concurrent producers.
type Timeline struct {
	Start     time.Time
	Endpoints []Endpoint

	stores []frameStore   // one per endpoint: the frames' bytes, lines and records
	nodes  []endpointNode // each endpoint's node, for NAT matching

	mu     sync.Mutex // guards events, flows, pairs, nats and calls to live
	events []Event
	flows  flowTable
	pairs  pairTable
	nats   natTable
	live   func(Event) // NewLive: each event as it is added, none kept
	stream *Stream     // Watch: events are also held for it
}

// New returns a timeline starting now with the captured endpoints.
func New(start time.Time, eps []Endpoint) *Timeline {
	return &Timeline{Start: start, Endpoints: eps, stores: make([]frameStore, len(eps)), nodes: endpointNodes(eps),
		flows: flowTable{byKey: map[flowKey]*flow{}}, pairs: newPairTable()}
}

// NewLive returns a timeline that keeps no events: it hands each to live as it is
// added (in the order added, one at a time), after assigning flows and relative
// numbers, for a command that shows a connection as it goes for as long as it lasts.
func NewLive(start time.Time, eps []Endpoint, live func(Event)) *Timeline {
	tl := New(start, eps)
	tl.live = live
	return tl
}

// AddFrame records a captured frame; it keeps a copy of its bytes and line, reads its
// fields from the headers its capture decoded (or decodes it) and assigns its flow and
// relative numbers. When the other end of the link recorded the same bytes, the
// receiver's copy is marked Dup, so each frame on a link is shown and counted once;
// the copies are paired by content (pair.go), in whatever order and however late
// they arrive. A packet a node forwards with other addresses is marked on the copy it
// sent (NAT), found the same way (nat.go).
func (tl *Timeline) AddFrame(c Captured) *Frame {
	ep := tl.Endpoints[c.Index]
	f := tl.stores[c.Index].add(&c)
	f.Iface = ep.Iface
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if ep.Peer >= 0 {
		tl.pairs.match(f, tl.link(c.Index))
	}
	tl.flows.assign(f)
	tl.matchNAT(c.Time, c.Index, f)
	tl.keep(Event{Time: c.Time, Node: ep.Node, Data: f})
	return f
}

// keep stores an event, or hands it over on a live timeline; tl.mu is held.
func (tl *Timeline) keep(e Event) {
	if tl.live != nil {
		tl.live(e)
		return
	}
	tl.events = append(tl.events, e)
	if tl.stream != nil {
		tl.stream.pending = append(tl.stream.pending, e)
	}
}

// link names the veth a captured endpoint is on: the lower of its and its peer's
// index.
func (tl *Timeline) link(idx int) int {
	if p := tl.Endpoints[idx].Peer; p >= 0 && p < idx {
		return p
	}
	return idx
}

// AddCall records an agent call at its completion time.
func (tl *Timeline) AddCall(c Call) {
	tl.add(Event{Time: c.Start.Add(c.Dur), Node: c.Node, Data: &c})
}

// Add records any other event; a nil record is not one.
func (tl *Timeline) Add(t time.Time, node string, d Data) {
	if d == nil {
		return
	}
	tl.add(Event{Time: t, Node: node, Data: d})
}

// Note records a note.
func (tl *Timeline) Note(t time.Time, node, text string) {
	tl.Add(t, node, &Note{Text: text})
}

func (tl *Timeline) add(e Event) {
	tl.mu.Lock()
	tl.keep(e)
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
	return tl.Select(KindFrame)
}

// Select returns the events of one kind in time order.
func (tl *Timeline) Select(k Kind) []Event {
	var out []Event
	for _, e := range tl.Events() {
		if e.Kind() == k {
			out = append(out, e)
		}
	}
	return out
}
