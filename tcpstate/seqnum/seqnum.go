// Package seqnum is TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4):
// comparisons are made on the signed difference, so they stay correct across
// wrap-around as long as the values compared are less than 2^31 apart.
//
// It is modelled on gVisor's pkg/tcpip/seqnum and must not know anything else about
// TCP.
package seqnum

// Value is a TCP sequence or acknowledgment number.
type Value uint32

// Size is a length in sequence space (bytes, plus one for each SYN and FIN).
type Size uint32

// LessThan reports whether v comes before w in sequence space.
func (v Value) LessThan(w Value) bool { return int32(v-w) < 0 }

// LessThanEq reports whether v comes before w or equals it.
func (v Value) LessThanEq(w Value) bool { return v == w || v.LessThan(w) }

// InRange reports whether a ≤ v < b.
func (v Value) InRange(a, b Value) bool { return v-a < b-a }

// InWindow reports whether first ≤ v < first+size.
func (v Value) InWindow(first Value, size Size) bool { return v.InRange(first, first.Add(size)) }

// Add returns v advanced by s.
func (v Value) Add(s Size) Value { return v + Value(s) }

// Size returns the distance from v to w (w − v); w must not come before v.
func (v Value) Size(w Value) Size { return Size(w - v) }

// Max returns the later of v and w in sequence space.
func Max(v, w Value) Value {
	if v.LessThan(w) {
		return w
	}
	return v
}

// Min returns the earlier of v and w in sequence space.
func Min(v, w Value) Value {
	if v.LessThan(w) {
		return v
	}
	return w
}
