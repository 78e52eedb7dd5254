package timeline

import (
	"net/netip"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
)

// natTable finds the two copies of a packet a node forwards with other addresses (a
// NAT rewrite): the copy received on one interface and the copy sent on another, by
// what NAT leaves alone (IPv4 ID, protocol, TCP sequence, acknowledgment and flags,
// payload length), in whatever order and however late they reach the timeline, as
// pairTable does for the two ends of a link. Copies whose twin never comes (the node
// dropped the packet, or did not rewrite it) are forgotten, oldest first, beyond
// maxUnpaired.
type natTable struct {
	waiting map[natKey][]natWait
	spare   []natWait // room for new lists of waiting, one entry each (spareList)
	order   []natWait // arrival order, for forgetting
	seq     uint64    // numbers the copies, to tell a forgotten one from a waiting one
	n       int       // copies waiting
}

// spareList returns an empty list with room for one copy, taken from a chunk of them:
// nearly every list holds one copy until its twin comes, and a router's every frame
// waits in one, so that waiting costs no allocation of its own.
func (nt *natTable) spareList() []natWait {
	if len(nt.spare) == 0 {
		nt.spare = make([]natWait, 256)
	}
	l := nt.spare[:0:1]
	nt.spare = nt.spare[1:]
	return l
}

// maxAlike bounds the copies waiting under one key: packets alike in everything the
// key holds (an IPv4 ID of 0, the same length) are matched nearest first, so the
// oldest of a long run of them is the one to forget.
const maxAlike = 64

type natKey struct {
	node      int  // the node's first endpoint
	udp       bool // else TCP
	ipid, len int
	seq, ack  uint32
	flags     header.TCPFlags
}

type natWait struct {
	key natKey
	f   *Frame
	t   time.Time
	n   uint64
}

// matchNAT pairs f with the other copy of its packet on another interface of the node,
// when that one is waiting, and marks the sent copy with where it came from if the
// node rewrote the addresses; else f waits.
func (tl *Timeline) matchNAT(t time.Time, idx int, f *Frame) {
	p := &f.Packet
	node := tl.nodes[idx]
	if (p.Proto != "tcp" && p.Proto != "udp") || !p.Src.Is4() || !node.forwards {
		return
	}
	nt := &tl.nats
	k := natKey{node.first, p.Proto == "udp", p.IPID, p.PayloadLen, p.Seq, p.Ack, p.Flags}
	list := nt.waiting[k]
	best, bestHop := -1, false
	for i, w := range list {
		g := w.f
		if g.Out == f.Out || g.Index == idx {
			continue
		}
		// Of several copies alike (the IPv4 ID is 0 in every DF datagram of an
		// unconnected UDP socket), one a hop before or after f (TTL one more on the
		// way in), and of those the nearest in time: tie-breaks, never cutoffs.
		in, out := &g.Packet, p
		if g.Out {
			in, out = p, &g.Packet
		}
		hop := in.TTL == out.TTL+1
		if best < 0 || hop && !bestHop || hop == bestHop && absDur(t.Sub(w.t)) < absDur(t.Sub(list[best].t)) {
			best, bestHop = i, hop
		}
	}
	if best < 0 {
		nt.wait(k, list, natWait{k, f, t, 0})
		return
	}
	// The two copies of a packet the node forwarded: a rewrite if the addresses moved.
	g := list[best].f
	removeAt(nt.waiting, k, list, best)
	nt.n--
	q := &g.Packet
	if q.Src == p.Src && q.Dst == p.Dst && q.SPort == p.SPort && q.DPort == p.DPort {
		return
	}
	in, out, inIdx := q, f, g.Index
	if !f.Out {
		in, out, inIdx = p, g, f.Index
	}
	out.NAT = &NAT{Src: netip.AddrPortFrom(in.Src, uint16(in.SPort)), Dst: netip.AddrPortFrom(in.Dst, uint16(in.DPort)), Endpoint: inIdx}
}

// wait adds w to k's list of waiting copies, list, dropping the oldest of a list
// grown beyond maxAlike and the oldest copies beyond maxUnpaired.
func (nt *natTable) wait(k natKey, list []natWait, w natWait) {
	nt.seq++
	w.n = nt.seq
	if nt.waiting == nil {
		nt.waiting = map[natKey][]natWait{}
	}
	if list == nil {
		list = nt.spareList()
	}
	list = append(list, w)
	nt.order = append(nt.order, w)
	nt.n++
	if len(list) > maxAlike {
		list = append(list[:0], list[1:]...)
		nt.n--
	}
	nt.waiting[k] = list
	nt.forget()
}

// endpointNode is what NAT matching needs of an endpoint's node: its first endpoint,
// which names it, and whether more than one of its interfaces is captured (only then
// can the timeline see a packet go through it).
type endpointNode struct {
	first    int
	forwards bool
}

// endpointNodes tells each endpoint's node, once for all frames.
func endpointNodes(eps []Endpoint) []endpointNode {
	out := make([]endpointNode, len(eps))
	for i, ep := range eps {
		out[i].first = i
		for j, o := range eps {
			if o.Node == ep.Node && j != i {
				out[i].forwards = true
				out[i].first = min(out[i].first, j)
			}
		}
	}
	return out
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// remove takes copy number n off its key's list, and reports whether it was there.
func (nt *natTable) remove(k natKey, n uint64) bool {
	list := nt.waiting[k]
	for i, w := range list {
		if w.n == n {
			removeAt(nt.waiting, k, list, i)
			nt.n--
			return true
		}
	}
	return false
}

// forget drops the oldest waiting copies beyond maxUnpaired (entries of the arrival
// order whose copy was matched since are skipped), and compacts the arrival order when
// it has grown to twice that.
func (nt *natTable) forget() {
	for nt.n > maxUnpaired {
		w := nt.order[0]
		nt.order = nt.order[1:]
		nt.remove(w.key, w.n)
	}
	if len(nt.order) < 2*maxUnpaired {
		return
	}
	kept := nt.order[:0]
	for _, w := range nt.order {
		for _, x := range nt.waiting[w.key] {
			if x.n == w.n {
				kept = append(kept, w)
				break
			}
		}
	}
	nt.order = append([]natWait(nil), kept...)
}
