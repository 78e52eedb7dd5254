package rawsock

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/pktlab/pktlab/rawsock/header"
)

// TestAppendUint compares appendUint with strconv around every power of ten and at
// the ends of the ranges it treats apart.
func TestAppendUint(t *testing.T) {
	vals := []uint64{0, 1, 9, 10, 11, 99, 100, 101, 1<<16 - 1, 1<<32 - 2, 1<<32 - 1, 1 << 32, 1<<64 - 1}
	for p := uint64(1); p <= 1e19; p *= 10 {
		vals = append(vals, p-1, p, p+1)
		if p > 1e18 {
			break
		}
	}
	for v := range uint64(10001) { // every number of one group of digits
		vals = append(vals, v)
	}
	r := uint32(1)
	for range 100000 { // a linear congruential walk over 32-bit values
		r = r*1664525 + 1013904223
		vals = append(vals, uint64(r), uint64(r%100000), uint64(r%1000))
	}
	buf := []byte("x")
	for _, v := range vals {
		got := string(appendUint(buf[:1:1], v))
		if want := "x" + strconv.FormatUint(v, 10); got != want {
			t.Errorf("appendUint(%d) = %q, want %q", v, got, want)
		}
	}
}

// TestAppendAddr4 formats every octet value in every position, with and without
// spare capacity in dst.
func TestAppendAddr4(t *testing.T) {
	for i := 0; i < 256; i++ {
		for _, a := range [][4]byte{{byte(i), 0, 0, 0}, {1, byte(i), 22, 255}, {255, 255, byte(i), 9}, {100, 10, 1, byte(i)}} {
			want := fmt.Sprintf("ip %d.%d.%d.%d", a[0], a[1], a[2], a[3])
			if got := string(appendAddr4([]byte("ip "), a[:])); got != want {
				t.Fatalf("appendAddr4(%v) = %q, want %q", a, got, want)
			}
			if got := string(appendAddr4(make([]byte, 3, 64), a[:])[3:]); got != want[3:] {
				t.Fatalf("appendAddr4(%v) into spare capacity = %q, want %q", a, got, want[3:])
			}
		}
	}
}

// TestAppendFlags checks the table against the letters for every flags byte.
func TestAppendFlags(t *testing.T) {
	for v := 0; v < 256; v++ {
		want := "Flags ["
		if v == 0 {
			want += "none"
		}
		for _, f := range tcpFlagLetters {
			if header.TCPFlags(v)&f.bit != 0 {
				want += string(f.letter)
			}
		}
		want += "]"
		if got := string(appendFlags(nil, header.TCPFlags(v))); got != want {
			t.Errorf("appendFlags(%#02x) = %q, want %q", v, got, want)
		}
	}
}

// FuzzTCPOptions holds the shortcut for well-formed options (walkTCPOptions) to
// the general walk (appendOption) on arbitrary option lists.
func FuzzTCPOptions(f *testing.F) {
	for _, o := range [][]byte{
		{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}, // Linux's SYN
		{1, 1, 8, 10, 0xf7, 0xd5, 0xd9, 0x0c, 0xc8, 0x34, 0x33, 0x1b},    // Linux's data segment
		{1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20},                          // SACK
		{2, 3, 5, 4, 2, 8, 9, 0, 0, 0, 1, 0, 0, 0, 0},                    // wrong lengths
		{8, 10, 1, 2, 3}, {3, 3}, {2, 4, 5}, {0, 1, 1}, {254, 4, 1, 2}, // cut short, EOL, unknown
	} {
		f.Add(o)
	}
	base := seqBase{seq: 1000, ack: 2000}
	f.Fuzz(func(t *testing.T, opts []byte) {
		for _, rev := range []bool{false, true} {
			got, gotOK := walkTCPOptions(nil, opts, true, base, rev, true)
			want, wantOK := walkTCPOptions(nil, opts, true, base, rev, false)
			if string(got) != string(want) || gotOK != wantOK {
				t.Errorf("options % x: %q (%v), general walk %q (%v)", opts, got, gotOK, want, wantOK)
			}
		}
		if len(opts) == 0 || len(opts) > 40 || len(opts)%4 != 0 {
			return // no header has these options (none: appendSegment prints none)
		}
		// A header with these options: appendSegment prints Linux's layouts
		// itself, with the text of the walk.
		tcp := header.TCP(append(make([]byte, 20, 20+len(opts)), opts...))
		tcp[12] = byte(5+len(opts)/4) << 4
		walk, ok := walkTCPOptions([]byte("Flags [none], win 0, options ["), opts, true, base, false, false)
		want := string(walk) + ", length 0"
		if got, done := appendSegment(nil, tcp, 0, 0, 0, 0, true); done && (!ok || string(got) != want) {
			t.Errorf("options % x (%v): %q, general walk %q", opts, tcp.OptionLayout(), got, want)
		} else if !done && tcp.OptionLayout() != header.TCPOptionsOther {
			t.Errorf("options % x: %v, but appendSegment does not print them", opts, tcp.OptionLayout())
		}
	})
}
