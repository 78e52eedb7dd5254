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
	order   []natWait // arrival order, for forgetting
	seq     uint64    // numbers the copies, to tell a forgotten one from a waiting one
	n       int       // copies waiting
}

// maxAlike bounds the copies waiting under one key: packets alike in everything the
// key holds (an IPv4 ID of 0, the same length) are matched nearest first, so the
// oldest of a long run of them is the one to forget.
const maxAlike = 64

type natKey struct {
	node      int // the node's first endpoint
	proto     string
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
	ep := tl.Endpoints[idx]
	k := natKey{node.first, p.Proto, p.IPID, p.PayloadLen, p.Seq, p.Ack, p.Flags}
	best, bestHop := -1, false
	for i, w := range nt.waiting[k] {
		g := w.f
		if g.Out == f.Out || tl.Endpoints[g.Index].Iface == ep.Iface {
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
		if best < 0 || hop && !bestHop || hop == bestHop && absDur(t.Sub(w.t)) < absDur(t.Sub(nt.waiting[k][best].t)) {
			best, bestHop = i, hop
		}
	}
	if best < 0 {
		nt.seq++
		w := natWait{k, f, t, nt.seq}
		if nt.waiting == nil {
			nt.waiting = map[natKey][]natWait{}
		}
		nt.waiting[k] = append(nt.waiting[k], w)
		nt.order = append(nt.order, w)
		nt.n++
		if list := nt.waiting[k]; len(list) > maxAlike {
			nt.remove(k, list[0].n)
		}
		nt.forget()
		return
	}
	// The two copies of a packet the node forwarded: a rewrite if the addresses moved.
	g := nt.waiting[k][best].f
	nt.remove(k, nt.waiting[k][best].n)
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
