package timeline

import (
	"hash/maphash"
	"math/bits"
)

// maxUnpaired bounds the frames the pair table waits on: a copy whose twin the other
// end's capture never delivers (its ring dropped it) is forgotten, oldest first, once
// this many are waiting.
const maxUnpaired = 1 << 14

// pairTable pairs the two copies of a frame on one link (the sender's end and the
// receiver's end of a veth, each its own capture socket). Copies are found by their
// content, per link, whatever order they reach the timeline in and however late: the
// capture sockets of two interfaces are read by different goroutines, and a ring block
// can be handed over tens of milliseconds after its frames were stamped. Identical
// frames sent twice (a retransmission with the same bytes) pair first with first.
type pairTable struct {
	seed maphash.Seed
	// waiting holds the oldest unpaired copy with that content, the head of a list
	// of them oldest first (Frame.waitNext): a copy waits without an allocation.
	waiting map[pairKey]*Frame
	order   []pairWait // the same copies in arrival order, for forgetting
	n       int        // copies in waiting
}

type pairKey struct {
	link int    // the lower endpoint index of the link
	sum  uint64 // contentSum of the frame
}

// sumEnds is how many bytes of each end of a frame its contentSum reads: its headers
// (checksums, IP ID, sequence numbers) at the front, its last data at the back.
// Hashing a full-size frame costs as much as decoding and summarizing it, and frames
// with these bytes alike are told apart by comparing them whole.
const sumEnds = 128

// contentSum hashes the bytes at both ends of a frame (all of a short one).
func (pt *pairTable) contentSum(b []byte) uint64 {
	if len(b) <= 2*sumEnds {
		return maphash.Bytes(pt.seed, b)
	}
	return maphash.Bytes(pt.seed, b[:sumEnds]) ^ bits.RotateLeft64(maphash.Bytes(pt.seed, b[len(b)-sumEnds:]), 1)
}

type pairWait struct {
	key pairKey
	f   *Frame
}

func newPairTable() pairTable {
	return pairTable{seed: maphash.MakeSeed(), waiting: map[pairKey]*Frame{}}
}

// pairSpot is where find left a copy's content in the table: its key, its twin
// and the copy before the twin in the key's list, or the list's last copy.
type pairSpot struct {
	k                pairKey
	twin, prev, last *Frame
}

// find looks for the twin of a copy of data captured on endpoint idx of the link:
// a waiting copy of the same bytes from the link's other end.
func (pt *pairTable) find(data []byte, idx, link int) pairSpot {
	s := pairSpot{k: pairKey{link, pt.contentSum(data)}}
	for g := pt.waiting[s.k]; g != nil; s.last, g = g, g.waitNext {
		if g.Index != idx && string(g.Data) == string(data) {
			s.twin, s.prev = g, s.last
			return s
		}
	}
	return s
}

// settle pairs f with the twin find found and marks the receiver's copy Dup, or
// leaves f waiting for its twin.
func (pt *pairTable) settle(f *Frame, s pairSpot) {
	if g := s.twin; g != nil {
		if f.Out && !g.Out && !g.shown {
			g.Dup = true // keep the sender's copy as the one shown (unless g was streamed)
		} else {
			f.Dup = true
		}
		f.pair, g.pair = g, f
		pt.unlink(s.k, s.prev, g)
		return
	}
	if s.last == nil {
		pt.waiting[s.k] = f
	} else {
		s.last.waitNext = f
	}
	pt.order = append(pt.order, pairWait{s.k, f})
	pt.n++
	pt.forget()
}

// unlink takes g off k's list of waiting copies, in which prev comes before it (nil
// when g is the first).
func (pt *pairTable) unlink(k pairKey, prev, g *Frame) {
	switch {
	case prev != nil:
		prev.waitNext = g.waitNext
	case g.waitNext != nil:
		pt.waiting[k] = g.waitNext
	default:
		delete(pt.waiting, k)
	}
	g.waitNext = nil
	pt.n--
}

// removeAt takes entry i off list, m's list for k, dropping the key with its last.
func removeAt[K comparable, V any](m map[K][]V, k K, list []V, i int) {
	list = append(list[:i], list[i+1:]...)
	if len(list) == 0 {
		delete(m, k)
	} else {
		m[k] = list
	}
}

// forget drops the oldest waiting copies beyond maxUnpaired, and compacts the arrival
// order (which still holds copies paired since) when it has grown to twice that.
func (pt *pairTable) forget() {
	for pt.n > maxUnpaired {
		w := pt.order[0]
		pt.order = pt.order[1:]
		if w.f.pair != nil {
			continue
		}
		var prev *Frame
		for g := pt.waiting[w.key]; g != nil; prev, g = g, g.waitNext {
			if g == w.f {
				pt.unlink(w.key, prev, g)
				break
			}
		}
	}
	if len(pt.order) >= 2*maxUnpaired {
		kept := pt.order[:0]
		for _, w := range pt.order {
			if w.f.pair == nil {
				kept = append(kept, w)
			}
		}
		pt.order = append([]pairWait(nil), kept...)
	}
}
