package picture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/timeline"
)

// Direction says which way a captured frame went through its interface.
type Direction int

// Directions: a capture file does not record them (pktlab's own pcapng files and
// tcpdump's do not set epb_flags); a live packet socket does (PACKET_OUTGOING).
const (
	DirUnknown Direction = iota
	DirIn
	DirOut
)

// Captured is one frame of a capture file or a live capture.
type Captured struct {
	Iface int // index into the collector's interface names
	Time  time.Time
	Data  []byte // an Ethernet frame
	Dir   Direction
}

// Bounds of what a collector keeps, so that no input sizes an allocation without one.
const (
	MaxFrames = 200_000
	MaxBytes  = 256 << 20
)

// pairWindow is how far apart the two ends of a veth may record one frame.
const pairWindow = 20 * time.Millisecond

// Collector gathers captured frames to draw them once the capture ends.
type Collector struct {
	names  []string
	frames []Captured
	others []other
	bytes  int
}

// other is an event besides the frames, such as a state change.
type other struct {
	t    time.Time
	node string
	data timeline.Data
}

// NewCollector collects frames of the interfaces named ("node:iface" as pktlab names
// its capture points, or any other name).
func NewCollector(names []string) *Collector { return &Collector{names: names} }

// Names are the interface names.
func (c *Collector) Names() []string { return c.names }

// SetNames replaces the interface names (a pcapng file may add interfaces as it goes).
func (c *Collector) SetNames(names []string) { c.names = append(c.names[:0], names...) }

// Add keeps a copy of the frame. It fails once MaxFrames or MaxBytes would be passed.
func (c *Collector) Add(f Captured) error {
	if len(c.frames)+len(c.others) >= MaxFrames || c.bytes+len(f.Data) > MaxBytes {
		return fmt.Errorf("picture: more than %d frames or %d MiB to draw; select fewer (e.g. with a filter)", MaxFrames, MaxBytes>>20)
	}
	if f.Iface < 0 || f.Iface >= len(c.names) {
		return fmt.Errorf("picture: frame on interface %d of %d", f.Iface, len(c.names))
	}
	f.Data = bytes.Clone(f.Data)
	c.bytes += len(f.Data)
	c.frames = append(c.frames, f)
	return nil
}

// AddEvent keeps an event that is not a frame (a state change, a note) for the
// timeline; it counts against MaxFrames as a frame does.
func (c *Collector) AddEvent(t time.Time, node string, d timeline.Data) error {
	if len(c.frames)+len(c.others) >= MaxFrames {
		return fmt.Errorf("picture: more than %d events to draw", MaxFrames)
	}
	c.others = append(c.others, other{t, node, d})
	return nil
}

// Timeline rebuilds a timeline from the frames. Two interfaces that recorded the same
// frames within a few milliseconds are taken for the two ends of one link; where the
// capture did not say which way a frame went, the end that recorded it first sent it,
// and a frame seen on one end only was sent by that end when its source MAC is the
// one that end sends from. An interface whose direction cannot be told has no node, so
// that its frames are drawn between their addresses.
func (c *Collector) Timeline() *timeline.Timeline {
	fs := c.frames
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Time.Before(fs[j].Time) })
	peer := c.peers(fs)
	macs := c.learnMACs(fs, peer)
	eps := make([]timeline.Endpoint, len(c.names))
	for i, n := range c.names {
		node, iface, ok := strings.Cut(n, ":")
		if !ok {
			node, iface = n, n
		}
		eps[i] = timeline.Endpoint{Node: node, Iface: iface, Peer: peer[i]}
		if peer[i] < 0 && macs[i] == nil && !c.knowsDirection(i) {
			eps[i].Node = ""
		}
	}
	start := time.Time{}
	if len(fs) > 0 {
		start = fs[0].Time
	}
	for _, o := range c.others {
		if start.IsZero() || o.t.Before(start) {
			start = o.t
		}
	}
	tl := timeline.New(start, eps)
	sums := make([]*rawsock.Summarizer, len(c.names)) // as tcpdump on each interface
	var line []byte
	for _, f := range fs {
		out := f.Dir == DirOut
		if f.Dir == DirUnknown && macs[f.Iface] != nil {
			out = bytes.Equal(srcMAC(f.Data), macs[f.Iface])
		}
		if sums[f.Iface] == nil {
			sums[f.Iface] = rawsock.NewSummarizer()
		}
		line = sums[f.Iface].Append(line[:0], layers.LinkTypeEthernet, f.Data)
		tl.AddFrame(timeline.Captured{Time: f.Time, Index: f.Iface, Data: f.Data, Out: out, Line: line})
	}
	// After the frames, so that a state change stamped as the segment that caused it
	// arrived is drawn under it.
	for _, o := range c.others {
		tl.Add(o.t, o.node, o.data)
	}
	return tl
}

func (c *Collector) knowsDirection(iface int) bool {
	for _, f := range c.frames {
		if f.Iface == iface && f.Dir != DirUnknown {
			return true
		}
	}
	return false
}

// peers pairs interfaces by the frames they both recorded: each interface's peer is
// the one it shares most frames with, when that one's is it too.
func (c *Collector) peers(fs []Captured) []int {
	n := len(c.names)
	count := make([][]int, n)
	for i := range count {
		count[i] = make([]int, n)
	}
	c.eachCopy(fs, func(first, second int) {
		a, b := fs[first].Iface, fs[second].Iface
		count[a][b]++
		count[b][a]++
	})
	best := make([]int, n)
	for i := range best {
		best[i] = -1
		for j, k := range count[i] {
			if k > 0 && (best[i] < 0 || k > count[i][best[i]]) {
				best[i] = j
			}
		}
	}
	for i, j := range best {
		if j >= 0 && best[j] != i {
			best[i] = -1
		}
	}
	return best
}

// eachCopy calls fn for each frame (second) that another interface recorded (first)
// with the same bytes less than pairWindow before, each first used once.
func (c *Collector) eachCopy(fs []Captured, fn func(first, second int)) {
	recent := map[string][]int{}
	used := map[int]bool{}
	for i, f := range fs {
		k := string(f.Data)
		keep := recent[k][:0]
		for _, j := range recent[k] {
			if f.Time.Sub(fs[j].Time) <= pairWindow {
				keep = append(keep, j)
			}
		}
		paired := false
		for _, j := range keep {
			if !used[j] && fs[j].Iface != f.Iface {
				used[j], used[i], paired = true, true, true
				fn(j, i)
				break
			}
		}
		if !paired {
			keep = append(keep, i)
		}
		recent[k] = keep
	}
}

// learnMACs finds the source MAC each interface sends from: the source of the frames
// it recorded first of a pair (or that the capture says it sent).
func (c *Collector) learnMACs(fs []Captured, peer []int) []net.HardwareAddr {
	votes := make([]map[string]int, len(c.names))
	vote := func(i int) {
		if votes[fs[i].Iface] == nil {
			votes[fs[i].Iface] = map[string]int{}
		}
		votes[fs[i].Iface][string(srcMAC(fs[i].Data))]++
	}
	c.eachCopy(fs, func(first, second int) {
		if peer[fs[first].Iface] == fs[second].Iface && fs[first].Dir == DirUnknown {
			vote(first)
		}
	})
	for i, f := range fs {
		if f.Dir == DirOut {
			vote(i)
		}
	}
	out := make([]net.HardwareAddr, len(c.names))
	for i, v := range votes {
		best := 0
		for mac, k := range v {
			if len(mac) == 6 && (k > best || k == best && mac < string(out[i])) {
				out[i], best = net.HardwareAddr(mac), k
			}
		}
	}
	return out
}

func srcMAC(frame []byte) []byte {
	if len(frame) < 14 {
		return nil
	}
	return frame[6:12]
}

// Collect collects the frames of a pcap or pcapng file. Only Ethernet frames can be
// drawn; the first damage in the file ends the reading with its error.
func Collect(r *rawsock.FileReader) (*Collector, error) {
	c := NewCollector(nil)
	for {
		fr, err := r.Next()
		switch {
		case errors.Is(err, io.EOF):
			return c, nil
		case err != nil:
			return nil, err
		case fr.Link != layers.LinkTypeEthernet:
			return nil, fmt.Errorf("picture: frame %d is %v; only Ethernet frames can be drawn", fr.Number, fr.Link)
		}
		c.SetNames(r.Interfaces)
		if err := c.Add(Captured{Iface: fr.Interface, Time: fr.Time, Data: fr.Data}); err != nil {
			return nil, err
		}
	}
}
