package rawsock

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"strconv"

	"github.com/pktlab/pktlab/rawsock/header"
)

// The appenders here format the numbers and addresses of a summary line without
// strconv or variable-length copies: each makes room once and writes a fixed-size
// block past the end of dst, keeping only the bytes it needs. A line is a dozen
// numbers, and runtime.memmove plus strconv's buffer copy were a third of its time.

// room returns dst with at least n bytes of spare capacity.
func room(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		dst = slices.Grow(dst, n)
	}
	return dst
}

// pairs holds "00" to "99", each as a little-endian word for one 2-byte store.
var pairs = func() (t [100]uint16) {
	for i := range t {
		t[i] = uint16('0'+i/10) | uint16('0'+i%10)<<8
	}
	return t
}()

var pow10 = [...]uint32{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// decimalLen is the number of decimal digits of v > 0.
func decimalLen(v uint32) int {
	t := bits.Len32(v) * 1233 >> 12 // ≈ log10(2^Len)
	if v >= pow10[t&15] {
		t++
	}
	return t
}

// appendUint appends v in decimal.
func appendUint(dst []byte, v uint64) []byte {
	if v < 10 { // window scales, zero echo replies, relative numbers: most are short
		return append(dst, byte('0'+v))
	}
	if v > 1<<32-1 {
		return strconv.AppendUint(dst, v, 10)
	}
	return appendUint32(dst, uint32(v))
}

// appendUint32 appends v ≥ 10 in decimal.
func appendUint32(dst []byte, v uint32) []byte {
	l := len(dst)
	dst = room(dst, 10)
	return dst[:putUint(dst[:l+10], l, v)]
}

// putUint writes v in decimal at w[i:], which has room for 10 digits, and returns
// the index after it: appendUint for text written through a window whose room was
// made once (appendSegment, appendKnownOptions). A digit is written in place (a
// window scale, an echo reply of 0, a relative number); more take putDigits.
func putUint(w []byte, i int, v uint32) int {
	if v < 10 {
		w[i] = byte('0' + v)
		return i + 1
	}
	return putDigits(w, i, v)
}

// putDigits is putUint for v ≥ 10. Most numbers of a line are short (windows,
// lengths, relative sequence numbers, the MSS): those take a comparison or two, not
// decimalLen. A longer one is split into groups of four digits, so that the
// divisions of each group do not wait on one another.
func putDigits(w []byte, i int, v uint32) int {
	d := (*[10]byte)(w[i : i+10])
	switch {
	case v < 100:
		binary.LittleEndian.PutUint16(d[:], pairs[v])
		return i + 2
	case v < 1000:
		d[0] = byte('0' + v/100)
		binary.LittleEndian.PutUint16(d[1:], pairs[v%100])
		return i + 3
	case v < 10000:
		binary.LittleEndian.PutUint32(d[:], uint32(pairs[v/100])|uint32(pairs[v%100])<<16)
		return i + 4
	}
	n := decimalLen(v)
	switch {
	case n <= 4:
		put4(d[:], v, n)
	case n <= 8:
		put4(d[:], v/1e4, n-4)
		put4(d[n-4:], v%1e4, 4)
	default:
		h, m := v/1e8, v%1e8
		put4(d[:], h, n-8)
		put4(d[n-8:], m/1e4, 4)
		put4(d[n-4:], m%1e4, 4)
	}
	return i + n
}

// put writes s at w[i:] and returns the index after it; s is a constant in every
// call, so the copy is a store or two.
func put(w []byte, i int, s string) int { return i + copy(w[i:i+len(s)], s) }

// put4 writes v < 10000 as n digits, zero-padded, at the start of w.
func put4(w []byte, v uint32, n int) {
	hi, lo := v/100, v%100
	switch n {
	case 1:
		w[0] = byte('0' + v)
	case 2:
		binary.LittleEndian.PutUint16(w, pairs[lo])
	case 3:
		w[0] = byte('0' + hi)
		binary.LittleEndian.PutUint16(w[1:], pairs[lo])
	default:
		binary.LittleEndian.PutUint32(w, uint32(pairs[hi])|uint32(pairs[lo])<<16)
	}
}

// octets holds 0 to 255 in decimal followed by a dot, as a little-endian word for
// one store, with the digit count in the top byte; an IPv4 address is four table
// lookups.
var octets = func() (t [256]uint64) {
	for i := range t {
		s := strconv.Itoa(i) + "."
		var w [8]byte
		copy(w[:], s)
		w[7] = byte(len(s) - 1)
		t[i] = binary.LittleEndian.Uint64(w[:])
	}
	return t
}()

// appendAddr4 appends an IPv4 address in dotted decimal.
func appendAddr4(dst []byte, b []byte) []byte {
	_ = b[3]
	l := len(dst)
	dst = room(dst, 16+8)
	w := dst[l : l+16+8]
	i := 0
	for _, c := range b[:4] {
		o := octets[c]
		binary.LittleEndian.PutUint64(w[i&15:], o)
		i += int(o>>56) + 1
	}
	return dst[:l+i-1]
}

// flagText holds "Flags [S.]" and the like for every value of the TCP flags byte, in
// tcpdump's letter order (tcpFlagLetters), "Flags [none]" for none.
var flagText = func() (t [256]struct {
	b [16]byte
	n uint8
}) {
	for v := range t {
		s := []byte("Flags [")
		if v == 0 {
			s = append(s, "none"...)
		}
		for _, f := range tcpFlagLetters {
			if header.TCPFlags(v)&f.bit != 0 {
				s = append(s, f.letter)
			}
		}
		s = append(s, ']')
		t[v].n = uint8(copy(t[v].b[:], s))
	}
	return t
}()

// appendFlags appends "Flags [...]" for a TCP flags byte.
func appendFlags(dst []byte, flags header.TCPFlags) []byte {
	f := &flagText[flags]
	l := len(dst)
	dst = room(dst, 16)
	*(*[16]byte)(dst[l : l+16]) = f.b
	return dst[:l+int(f.n)]
}
