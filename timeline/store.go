package timeline

import (
	"sync"
	"unsafe"

	"github.com/gopacket/gopacket/layers"
)

// frameStore keeps what a timeline holds of the frames captured on one endpoint:
// their bytes and summary lines, appended to chunks and never rewritten, and their
// Frame records, taken from slabs. A run records every frame of every link, so that
// recording one allocates nothing of its own (a chunk holds hundreds of frames), and
// the chunks hold no pointer for the garbage collector to follow. Chunks and slabs
// start small, so that a timeline of a few frames stays small, and double up to a
// bound. One store per endpoint, each with its own lock, because each endpoint has its
// own capture goroutine: they copy at once, not in turn under the timeline's lock.
type frameStore struct {
	mu     sync.Mutex // guards chunk, frames and slab
	chunk  []byte     // the chunk being filled: len is what is used
	frames []Frame    // what is left of the slab being used
	slab   int        // the length of that slab
}

// Bounds of the chunks and slabs. A frame larger than a quarter of the largest
// chunk (a GRO frame of 64 KiB) is kept on its own, so that it wastes no chunk.
const (
	minChunk = 16 << 10
	maxChunk = 512 << 10
	minSlab  = 16
	maxSlab  = 512
)

// frame returns a zero Frame of the store's; s.mu is held.
func (s *frameStore) frame() *Frame {
	if len(s.frames) == 0 {
		s.slab = max(min(2*s.slab, maxSlab), minSlab)
		s.frames = make([]Frame, s.slab)
	}
	f := &s.frames[0]
	s.frames = s.frames[1:]
	return f
}

// bytes copies b into the store and returns the copy, whose capacity is its length
// (appending to it copies it elsewhere); s.mu is held.
func (s *frameStore) bytes(b []byte) []byte {
	if len(b) > maxChunk/4 {
		return append([]byte(nil), b...)
	}
	if cap(s.chunk)-len(s.chunk) < len(b) {
		n := max(min(2*cap(s.chunk), maxChunk), minChunk)
		s.chunk = make([]byte, 0, n)
	}
	n := len(s.chunk)
	s.chunk = append(s.chunk, b...)
	return s.chunk[n:len(s.chunk):len(s.chunk)]
}

// string copies b into the store and returns it as a string, with no allocation of
// its own; s.mu is held. The bytes of a chunk are written once and never changed, so
// the string is immutable as unsafe.String requires.
func (s *frameStore) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	c := s.bytes(b)
	return unsafe.String(&c[0], len(c))
}

// add records a captured frame in the store: a Frame with copies of its bytes and
// line, and its fields read from the headers its capture decoded, carried over to
// the copy (or decoded from the copy when it has none).
func (s *frameStore) add(c *Captured) *Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.frame()
	f.Index, f.Out, f.Cause = c.Index, c.Out, c.Cause
	f.Data = s.bytes(c.Data)
	f.Line = s.string(c.Line)
	if c.Headers.Frame() != nil {
		f.Packet.Headers = c.Headers.On(f.Data)
	} else {
		f.Packet.Headers.Decode(layers.LinkTypeEthernet, f.Data) // a fault leaves the headers before it
	}
	f.Packet.fill()
	return f
}
