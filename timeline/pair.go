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
	seed    maphash.Seed
	waiting map[pairKey][]*Frame // unpaired copies with that content, oldest first
	order   []pairWait           // the same copies in arrival order, for forgetting
	n       int                  // copies in waiting
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
	return pairTable{seed: maphash.MakeSeed(), waiting: map[pairKey][]*Frame{}}
}

// match pairs f with a waiting copy of the same bytes from the other end of its link
// and marks the receiver's copy Dup, or leaves f waiting for its twin.
func (pt *pairTable) match(f *Frame, link int) {
	k := pairKey{link, pt.contentSum(f.Data)}
	list := pt.waiting[k]
	for i, g := range list {
		if g.Index == f.Index || string(g.Data) != string(f.Data) {
			continue
		}
		if f.Out && !g.Out && !g.shown {
			g.Dup = true // keep the sender's copy as the one shown (unless g was streamed)
		} else {
			f.Dup = true
		}
		f.pair, g.pair = g, f
		pt.remove(k, list, i)
		return
	}
	pt.waiting[k] = append(list, f)
	pt.order = append(pt.order, pairWait{k, f})
	pt.n++
	pt.forget()
}

func (pt *pairTable) remove(k pairKey, list []*Frame, i int) {
	removeAt(pt.waiting, k, list, i)
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
		list := pt.waiting[w.key]
		for i, g := range list {
			if g == w.f {
				pt.remove(w.key, list, i)
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
