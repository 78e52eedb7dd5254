package picture

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
)

// ladder is one diagram to draw: a title, its lanes left to right, its rows.
type ladder struct {
	title string
	lanes []int // indices into Diagram.Lanes, in drawing order
	rows  []Row
}

// nearby is how long before a flow's first frame and after its last a socket call or
// state change on one of its nodes is still drawn in its ladder.
const nearby = 10 * time.Millisecond

// ladders cuts a diagram into one ladder per flow (or only the one of flow, when not
// 0), the two sides of a NAT drawn as one; and one more for the frames of no flow
// (ICMP, bare IP) when there are any. Link-local chatter (ARP, neighbour discovery,
// MLD) is left out unless chatter is set.
func (d *Diagram) ladders(flow int, chatter bool) ([]ladder, error) {
	var out []ladder
	found := false
	for _, g := range d.groups() {
		if flow != 0 && !hasFlow(g, flow) {
			continue
		}
		found = true
		out = append(out, d.flowLadder(g))
	}
	if flow != 0 {
		if !found {
			return nil, fmt.Errorf("picture: no flow %d (the timeline has %d)", flow, len(d.Flows))
		}
		return out, nil
	}
	if l := d.otherLadder(chatter); len(l.rows) > 0 {
		out = append(out, l)
	}
	return out, nil
}

func hasFlow(g []Flow, id int) bool {
	for _, f := range g {
		if f.ID == id {
			return true
		}
	}
	return false
}

// groups puts the flows that a NAT joins (the frame before the rewrite in one, after
// it in the other) together, in the order of their first frames.
func (d *Diagram) groups() [][]Flow {
	parent := map[int]int{}
	var find func(int) int
	find = func(x int) int {
		if p, ok := parent[x]; ok && p != x {
			parent[x] = find(p)
			return parent[x]
		}
		return x
	}
	byTuple := map[[2]netip.AddrPort]int{}
	for _, f := range d.Flows {
		byTuple[[2]netip.AddrPort{f.Src, f.Dst}] = f.ID
		byTuple[[2]netip.AddrPort{f.Dst, f.Src}] = f.ID
	}
	for _, r := range d.Rows {
		if r.Kind != RowFrame || r.Frame.NAT == nil || r.Flow == 0 {
			continue
		}
		if other, ok := byTuple[[2]netip.AddrPort{r.Frame.NAT.Src, r.Frame.NAT.Dst}]; ok && find(other) != find(r.Flow) {
			a, b := find(other), find(r.Flow)
			parent[max(a, b)] = min(a, b)
		}
	}
	var out [][]Flow
	at := map[int]int{}
	for _, f := range d.Flows {
		root := find(f.ID)
		i, ok := at[root]
		if !ok {
			i = len(out)
			at[root] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], f)
	}
	return out
}

func (d *Diagram) flowLadder(g []Flow) ladder {
	var titles []string
	for _, fl := range g {
		titles = append(titles, fmt.Sprintf("[f%d] %s %s > %s, %d frame(s)", fl.ID, fl.Proto, fl.Src, fl.Dst, fl.Frames))
	}
	l := ladder{title: strings.Join(titles, "\n  NAT to ")}
	onLane := map[int]bool{}
	in := func(r Row) bool {
		for _, fl := range g {
			if d.inFlow(r, fl) {
				return true
			}
		}
		return false
	}
	var ends []string
	first, last := g[0].First, g[0].Last
	for _, fl := range g {
		ends = append(ends, fl.Src.String(), fl.Dst.String())
		first, last = min(first, fl.First), max(last, fl.Last)
	}
	opener := -1 // the lane of the first bare SYN's sender
	for _, r := range d.Rows {
		if r.Kind == RowFrame && in(r) {
			l.lanes = appendLane(appendLane(l.lanes, r.From), r.To)
			onLane[r.From], onLane[r.To] = true, true
			if opener < 0 && r.Frame != nil && r.Frame.Packet.Proto == "tcp" && r.Frame.Packet.Flags == header.TCPFlagSYN {
				opener = r.From
			}
		}
	}
	l.lanes = openerFirst(l.lanes, opener)
	for _, r := range d.Rows {
		switch {
		case r.Kind == RowFrame:
			if !in(r) {
				continue
			}
		case r.Kind == RowStep || (r.Kind == RowNote && !r.Fail):
			continue
		case r.From >= 0 && !onLane[r.From]:
			continue
		case r.Kind == RowKernel:
			// Only the kernel's events of the flow's connection, whenever they came.
			if !aboutFlows(r, g) {
				continue
			}
		case !mentions(r.Line, ends) && (r.T < first-nearby || r.T > last+nearby):
			continue
		}
		l.rows = append(l.rows, r)
	}
	return l
}

// openerFirst moves the lane of the side that opened the connection to the left, as
// the textbook draws a handshake, whatever the order of the frames' times: two
// captures stamp a SYN and its SYN-ACK on different interfaces, and on a loaded
// machine the SYN-ACK was once stamped first (the client then drawn on the right).
func openerFirst(lanes []int, opener int) []int {
	i := slices.Index(lanes, opener)
	if i <= 0 {
		return lanes
	}
	return append([]int{opener}, slices.Delete(slices.Clone(lanes), i, i+1)...)
}

func aboutFlows(r Row, g []Flow) bool {
	for _, fl := range g {
		if r.about(fl.Src, fl.Dst) {
			return true
		}
	}
	return false
}

// inFlow reports whether a frame row belongs to the flow: its own frames, and ICMP
// errors that quote one of them.
func (d *Diagram) inFlow(r Row, fl Flow) bool {
	if r.Flow == fl.ID {
		return true
	}
	in := r.Frame.Packet.Inner
	if in == nil || in.Proto != fl.Proto {
		return false
	}
	a, b := netip.AddrPortFrom(in.Src, uint16(in.SPort)), netip.AddrPortFrom(in.Dst, uint16(in.DPort))
	return (a == fl.Src && b == fl.Dst) || (a == fl.Dst && b == fl.Src)
}

func (d *Diagram) otherLadder(chatter bool) ladder {
	l := ladder{title: "frames of no TCP or UDP flow"}
	for _, r := range d.Rows {
		if r.Kind != RowFrame || r.Flow != 0 || (!chatter && isChatter(r)) || d.quotesFlow(r) {
			continue
		}
		l.lanes = appendLane(appendLane(l.lanes, r.From), r.To)
		l.rows = append(l.rows, r)
	}
	return l
}

func (d *Diagram) quotesFlow(r Row) bool {
	for _, fl := range d.Flows {
		if d.inFlow(r, fl) {
			return true
		}
	}
	return false
}

func isChatter(r Row) bool { return chatter(r.Frame) }

func appendLane(lanes []int, l int) []int {
	for _, x := range lanes {
		if x == l {
			return lanes
		}
	}
	return append(lanes, l)
}

func mentions(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
