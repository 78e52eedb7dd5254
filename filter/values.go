package filter

import (
	"bytes"
	"slices"
)

// hostEndian reports the types whose register bytes are in host byte order; nft
// compares (and so sorts) their values as host integers.
func (d dataType) hostEndian() bool {
	switch d {
	case dtMark, dtIfIndex, dtIfName, dtCtState:
		return true
	}
	return false
}

// cmpKey orders two values of type d the way nft sorts set elements when it lists them.
func cmpKey(d dataType, a, b []byte) int {
	if !d.hostEndian() {
		return bytes.Compare(a, b)
	}
	// Little-endian host: the most significant byte is the last one.
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// bounds returns the lowest and highest value an element covers.
func (e Elem) bounds() (lo, hi []byte) {
	switch {
	case e.To != nil:
		return e.From, e.To
	case e.Prefix > 0:
		hi = slices.Clone(e.From)
		for i := range hi {
			bit := i * 8
			switch {
			case bit >= e.Prefix:
				hi[i] = 0xff
			case bit+8 > e.Prefix:
				hi[i] |= 0xff >> (e.Prefix - bit)
			}
		}
		return e.From, hi
	}
	return e.From, e.From
}

func sortElems(d dataType, es []Elem) {
	slices.SortStableFunc(es, func(a, b Elem) int { return cmpKey(d, a.From, b.From) })
}

// overlaps reports whether sorted neighbours a, b overlap or touch (touching intervals
// cannot be stored as separate elements of an interval set).
func overlaps(d dataType, a, b Elem) bool {
	_, ahi := a.bounds()
	blo, _ := b.bounds()
	if cmpKey(d, ahi, blo) >= 0 {
		return true
	}
	if a.To == nil && a.Prefix == 0 && b.To == nil && b.Prefix == 0 {
		return false
	}
	next, carry := increment(ahi)
	return !carry && bytes.Equal(next, blo)
}

// increment returns b+1 as a big-endian number, and whether it overflowed.
func increment(b []byte) ([]byte, bool) {
	out := slices.Clone(b)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			return out, false
		}
	}
	return out, true
}

// decrement returns b-1 as a big-endian number.
func decrement(b []byte) []byte {
	out := slices.Clone(b)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]--
		if out[i] != 0xff {
			break
		}
	}
	return out
}

// prefixMask returns a mask of n bytes with the first bits set.
func prefixMask(n, bits int) []byte {
	m := make([]byte, n)
	for i := range m {
		switch {
		case (i+1)*8 <= bits:
			m[i] = 0xff
		case i*8 < bits:
			m[i] = 0xff << (8 - (bits - i*8))
		}
	}
	return m
}

// maskPrefix returns the prefix length of a contiguous mask, or -1.
func maskPrefix(m []byte) int {
	n := 0
	for i, b := range m {
		for bit := 7; bit >= 0; bit-- {
			if b&(1<<bit) == 0 {
				if !bytes.Equal(m[i:], prefixMask(len(m), n)[i:]) {
					return -1
				}
				return n
			}
			n++
		}
	}
	return n
}

// rangeAsPrefix returns the prefix length when lo-hi is exactly one CIDR block.
func rangeAsPrefix(lo, hi []byte) int {
	for bits := 1; bits < len(lo)*8; bits++ {
		m := prefixMask(len(lo), bits)
		ok := true
		for i := range lo {
			if lo[i]&^m[i] != 0 || hi[i] != lo[i]|^m[i] {
				ok = false
				break
			}
		}
		if ok {
			return bits
		}
	}
	return -1
}
