package rawsock_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/internal/testcorpus"
)

// summaryOptionLists are TCP option lists a summary prints in every way it can:
// Linux's, SACK blocks, lengths wrong for the kind, below 2 or past the header, EOL
// with padding, unknown and experimental kinds, a header full of NOPs.
var summaryOptionLists = [][]byte{
	{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7},
	{1, 1, 8, 10, 0xf7, 0xd5, 0xd9, 0x0c, 0xc8, 0x34, 0x33, 0x1b},
	{2, 4, 0xff, 0xff, 1, 1, 4, 2, 1, 3, 3, 14},
	{1, 1, 5, 10, 0, 0, 0x10, 0, 0, 0, 0x20, 0},
	{1, 1, 5, 34, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 0, 0},
	{5, 9, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1},
	{2, 3, 5, 4, 2, 8, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0},
	{8, 10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 3, 2},
	{2, 4, 5, 0xb4, 0, 9, 9, 9},
	{2, 4, 5, 0xb4, 8, 12, 0, 0},
	{2, 1, 1, 1},
	{1, 1, 1, 1, 3, 3, 7, 0},
	{254, 6, 1, 2, 3, 4, 1, 1, 3, 3, 0, 1},
	{19, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1, 1},
	{34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1},
	{30, 12, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8},
	bytes.Repeat([]byte{1}, 40),
	{3, 3, 255, 4, 2, 2, 4, 0xff, 0xff, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
}

// summaryFlags are flag bytes a summary prints differently.
var summaryFlags = []byte{0x00, 0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x30, 0xff, 0xc2, 0x01}

// withOptions returns a copy of an Ethernet IPv4 TCP frame whose TCP header at tcp
// carries opts, the IPv4 total length set to match.
func withOptions(f []byte, tcp int, opts []byte) []byte {
	g := append(append(bytes.Clone(f[:tcp+20]), opts...), f[min(tcp+int(f[tcp+12]>>4)*4, len(f)):]...)
	g[tcp+12] = byte(5+len(opts)/4)<<4 | g[tcp+12]&0x0f
	binary.BigEndian.PutUint16(g[16:], uint16(len(g)-14))
	return g
}

// fastSummaryFrames are the frames of the corpus captures and of the benchmarks,
// and for each Ethernet IPv4 TCP frame among them copies with other option lists,
// flags, sequence and acknowledgement numbers, windows and urgent pointers, and
// with the fields changed that decide whether a summary takes appendIPv4TCP: the
// EtherType 0xffff, which gopacket's registry decodes as IPv4; a total length of 0,
// below the header length or past the frame; another version; a fragment; a
// header with options.
func fastSummaryFrames(tb testing.TB) []testcorpus.Frame {
	rng := rand.New(rand.NewPCG(9, 13))
	var out []testcorpus.Frame
	for _, lf := range testcorpus.Read(tb, ".", testcorpus.Files...) {
		out = append(out, lf)
		f := lf.Data
		if lf.Link != layers.LinkTypeEthernet || len(f) < 34 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != 6 {
			continue
		}
		tcp := 14 + int(f[14]&0x0f)*4
		if len(f) < tcp+20 || int(f[tcp+12]>>4)*4 < 20 || tcp+int(f[tcp+12]>>4)*4 > len(f) {
			continue
		}
		add := func(g []byte) { out = append(out, testcorpus.Frame{Link: layers.LinkTypeEthernet, Data: g}) }
		for _, opts := range summaryOptionLists {
			add(withOptions(f, tcp, opts))
		}
		for _, fl := range summaryFlags {
			g := bytes.Clone(f)
			g[tcp+13] = fl
			add(g)
			g = bytes.Clone(g)
			binary.BigEndian.PutUint32(g[tcp+4:], rng.Uint32())
			binary.BigEndian.PutUint32(g[tcp+8:], rng.Uint32())
			binary.BigEndian.PutUint16(g[tcp+14:], uint16(rng.Uint32()))
			binary.BigEndian.PutUint16(g[tcp+18:], uint16(rng.Uint32()))
			add(g)
		}
		edit := func(fn func(g []byte)) {
			g := bytes.Clone(f)
			fn(g)
			add(g)
		}
		edit(func(g []byte) { binary.BigEndian.PutUint16(g[12:], 0xffff) }) // gopacket's "raw": decoded as IPv4
		edit(func(g []byte) { binary.BigEndian.PutUint16(g[16:], 0) })
		edit(func(g []byte) { binary.BigEndian.PutUint16(g[16:], 19) })
		edit(func(g []byte) { binary.BigEndian.PutUint16(g[16:], uint16(tcp-14+20)) })
		edit(func(g []byte) { binary.BigEndian.PutUint16(g[16:], uint16(len(g)-13)) })
		edit(func(g []byte) { binary.BigEndian.PutUint16(g[16:], 0xffff) })
		edit(func(g []byte) { g[14] = 0x50 | g[14]&0x0f })
		edit(func(g []byte) { g[14] = 0x60 | g[14]&0x0f })
		edit(func(g []byte) { g[20] |= 0x20 })
		edit(func(g []byte) { g[21] = 3 })
		edit(func(g []byte) { g[tcp+12] = 0xf0 | g[tcp+12]&0x0f })
		edit(func(g []byte) { binary.BigEndian.PutUint16(g[tcp:], binary.BigEndian.Uint16(g[tcp+2:])) })
		if f[14]&0x0f == 5 { // the same packet with an IPv4 header of 24 bytes (four NOP options)
			g := append(append(bytes.Clone(f[:34]), 1, 1, 1, 1), f[34:]...)
			g[14] = 0x46
			binary.BigEndian.PutUint16(g[16:], binary.BigEndian.Uint16(f[16:])+4)
			add(g)
		}
	}
	return out
}

// TestFastSummaryMatches holds AppendHeaders, which takes appendIPv4TCP for frames
// the decoder found to be Ethernet, IPv4 and TCP, to Append, which walks the bytes
// without decoded headers as the summary always did: the same line for every frame
// of fastSummaryFrames and every truncation of its first 100 bytes, relative and
// absolute sequence numbers, both summarizers fed the same frames in the same order.
func TestFastSummaryMatches(t *testing.T) {
	frames := fastSummaryFrames(t)
	for _, abs := range []bool{false, true} {
		fast, ref := rawsock.NewSummarizer(), rawsock.NewSummarizer()
		fast.Absolute, ref.Absolute = abs, abs
		decoders := map[layers.LinkType]*rawsock.Decoder{}
		var got, want []byte
		n, short := 0, 0
		for i, lf := range frames {
			d := decoders[lf.Link]
			if d == nil {
				d = rawsock.NewDecoder(lf.Link)
				decoders[lf.Link] = d
			}
			for cut := len(lf.Data); cut >= 0; cut-- {
				if cut > 100 && cut < len(lf.Data)-1 {
					continue
				}
				f := lf.Data[:cut]
				_ = d.Decode(f) // the headers decoded before a fault summarize too
				if _, ok := d.EtherIPv4TCP(); ok {
					short++
				}
				got = fast.AppendHeaders(got[:0], &d.Headers)
				want = ref.Append(want[:0], lf.Link, f)
				n++
				if string(got) != string(want) {
					t.Fatalf("absolute %v, frame %d cut to %d of %d bytes (% x):\nAppendHeaders %q\nAppend        %q", abs, i, cut, len(lf.Data), f, got, want)
				}
			}
		}
		if short < 10000 {
			t.Errorf("only %d of %d frames are Ethernet, IPv4 and TCP: the test no longer exercises appendIPv4TCP", short, n)
		}
		t.Logf("absolute %v: %d lines alike, %d of them Ethernet, IPv4 and TCP", abs, n, short)
	}
}

// TestSummaryGoldenFromHeaders is TestSummaryGolden through the decoder and
// AppendHeaders, as captures and the timeline summarize frames.
func TestSummaryGoldenFromHeaders(t *testing.T) {
	for _, path := range corpusFiles {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s := rawsock.NewSummarizer()
			var lines []string
			var buf []byte
			for _, lf := range testcorpus.Read(t, ".", path) {
				d := rawsock.NewDecoder(lf.Link)
				_ = d.Decode(lf.Data)
				buf = s.AppendHeaders(buf[:0], &d.Headers)
				lines = append(lines, string(buf))
			}
			want, err := os.ReadFile(path + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), strings.Join(lines, "\n")+"\n"); diff != "" {
				t.Errorf("summaries differ from %s.golden (-want +got):\n%s", path, diff)
			}
		})
	}
}

// FuzzFastSummaryMatches is TestFastSummaryMatches on arbitrary Ethernet frames,
// with relative and with absolute sequence numbers.
func FuzzFastSummaryMatches(f *testing.F) {
	for _, lf := range fastSummaryFrames(f) {
		if lf.Link == layers.LinkTypeEthernet {
			f.Add(lf.Data)
		}
	}
	var fast, ref [2]*rawsock.Summarizer
	for i := range fast {
		fast[i], ref[i] = rawsock.NewSummarizer(), rawsock.NewSummarizer()
		fast[i].Absolute, ref[i].Absolute = i == 1, i == 1
	}
	d := rawsock.NewDecoder(layers.LinkTypeEthernet)
	var got, want []byte
	f.Fuzz(func(t *testing.T, frame []byte) {
		_ = d.Decode(frame)
		for i := range fast {
			got = fast[i].AppendHeaders(got[:0], &d.Headers)
			want = ref[i].Append(want[:0], layers.LinkTypeEthernet, frame)
			if string(got) != string(want) {
				t.Errorf("absolute %v, % x:\nAppendHeaders %q\nAppend        %q", fast[i].Absolute, frame, got, want)
			}
		}
	})
}
