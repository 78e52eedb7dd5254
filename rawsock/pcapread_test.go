package rawsock_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pktlab/pktlab/rawsock"
)

// readAll reads a capture file to its end: the frames read, and every error met
// (the reader goes on after a skipped record).
func readAll(t testing.TB, data []byte) ([]rawsock.FileFrame, []error, error) {
	t.Helper()
	r, err := rawsock.NewFileReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	var frames []rawsock.FileFrame
	var errs []error
	for range 1 << 20 {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return frames, errs, nil
		}
		if err != nil {
			errs = append(errs, err)
			var fe *rawsock.FileError
			if !errors.As(err, &fe) || !fe.Skipped {
				return frames, errs, nil
			}
			continue
		}
		f.Data = append([]byte(nil), f.Data...)
		frames = append(frames, f)
	}
	t.Fatal("reader never ends")
	return nil, nil, nil
}

// records returns the offsets of the records of a classic pcap file, or of the
// blocks of a pcapng file (both little-endian, as the corpus is).
func records(t *testing.T, data []byte) []int {
	t.Helper()
	var offs []int
	if binary.LittleEndian.Uint32(data) == 0x0a0d0d0a {
		for o := 0; o < len(data); o += int(binary.LittleEndian.Uint32(data[o+4:])) {
			offs = append(offs, o)
		}
		return offs
	}
	for o := 24; o < len(data); o += 16 + int(binary.LittleEndian.Uint32(data[o+8:])) {
		offs = append(offs, o)
	}
	return offs
}

// epbs returns the offsets of a pcapng file's enhanced packet blocks.
func epbs(t *testing.T, data []byte) []int {
	var out []int
	for _, o := range records(t, data) {
		if binary.LittleEndian.Uint32(data[o:]) == 6 {
			out = append(out, o)
		}
	}
	return out
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFileReaderMatchesPcapgo: on the lab corpus the reader returns what gopacket's
// pcapgo readers return, frame by frame: data, lengths, times, interfaces, link types.
func TestFileReaderMatchesPcapgo(t *testing.T) {
	for _, path := range corpusFiles {
		t.Run(path, func(t *testing.T) {
			data := mustRead(t, path)
			got, errs, err := readAll(t, data)
			if err != nil || len(errs) > 0 {
				t.Fatalf("read: %v %v", err, errs)
			}
			type ref struct {
				data   []byte
				ts     time.Time
				length int
				iface  int
			}
			var want []ref
			if binary.LittleEndian.Uint32(data) == 0x0a0d0d0a {
				r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
				if err != nil {
					t.Fatal(err)
				}
				for {
					d, ci, err := r.ReadPacketData()
					if err != nil {
						break
					}
					want = append(want, ref{d, ci.Timestamp, ci.Length, ci.InterfaceIndex})
				}
			} else {
				r, err := pcapgo.NewReader(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				for {
					d, ci, err := r.ReadPacketData()
					if err != nil {
						break
					}
					want = append(want, ref{d, ci.Timestamp, ci.Length, 0})
				}
			}
			if len(got) != len(want) || len(want) == 0 {
				t.Fatalf("read %d frames, pcapgo %d", len(got), len(want))
			}
			offs := records(t, data)
			for i, w := range want {
				g := got[i]
				if !bytes.Equal(g.Data, w.data) || !g.Time.Equal(w.ts) || g.Length != w.length || g.Interface != w.iface || g.Number != i+1 {
					t.Errorf("frame %d: got %d bytes at %v, length %d, interface %d, number %d; pcapgo %d bytes at %v, length %d, interface %d",
						i+1, len(g.Data), g.Time, g.Length, g.Interface, g.Number, len(w.data), w.ts, w.length, w.iface)
				}
				if !slices.Contains(offs, int(g.Offset)) {
					t.Errorf("frame %d: offset %d is not a record's", i+1, g.Offset)
				}
			}
		})
	}
}

// TestFileReaderDamage: a damaged file is read as far as it can be, and every
// error says which frame, at which byte, and what is wrong. The cases are those
// tcpdump -r stops at or reports; tcpdump prints a frame whose capture length exceeds
// its original length, and so does the reader.
func TestFileReaderDamage(t *testing.T) {
	pcap := mustRead(t, "testdata/corpus.pcap")
	ng := mustRead(t, "testdata/corpus.pcapng")
	pcapRecs := records(t, pcap)
	ngEPB := epbs(t, ng)
	nPcap, nNg := len(pcapRecs), len(ngEPB)
	patch := func(src []byte, off int, v uint32) []byte {
		b := append([]byte(nil), src...)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	le32 := func(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
	epb := ngEPB[2]
	epbLen := int(le32(ng, epb+4))
	type dmg struct {
		frame  int
		offset int
		skip   bool
		is     error
		text   string
	}
	tests := []struct {
		name   string
		data   []byte
		frames int
		errs   []dmg
	}{
		{"pcap whole", pcap, nPcap, nil},
		{"pcap caplen > len is read, as tcpdump does", patch(pcap, pcapRecs[2]+12, le32(pcap, pcapRecs[2]+8)-10), nPcap, nil},
		{"pcap cut inside frame 6", pcap[:pcapRecs[5]+30], 5,
			[]dmg{{6, pcapRecs[5], false, io.ErrUnexpectedEOF, "frame 6 at byte " + strconv.Itoa(pcapRecs[5]) + ": truncated: the file ends inside the frame data"}}},
		{"pcap cut inside a record header", pcap[:pcapRecs[5]+7], 5,
			[]dmg{{6, pcapRecs[5], false, io.ErrUnexpectedEOF, "inside the record header"}}},
		{"pcap caplen over the snap length", patch(pcap, pcapRecs[4]+8, 300000), 4,
			[]dmg{{5, pcapRecs[4], false, rawsock.ErrDamaged, "capture length 300000 exceeds the snap length 262144"}}},
		{"pcap header cut", pcap[:20], 0, []dmg{{0, 0, false, io.ErrUnexpectedEOF, "file header at byte 0: truncated"}}},
		{"pcapng whole", ng, nNg, nil},
		{"pcapng caplen > len is read", patch(ng, epb+24, le32(ng, epb+20)-10), nNg, nil},
		{"pcapng cut inside frame 6", ng[:ngEPB[5]+40], 5,
			[]dmg{{6, ngEPB[5], false, io.ErrUnexpectedEOF, "truncated: the file ends inside the enhanced packet block"}}},
		{"pcapng caplen past its block is skipped", patch(ng, epb+20, 5000), nNg - 1,
			[]dmg{{3, epb, true, rawsock.ErrDamaged, "capture length 5000 exceeds the"}}},
		{"pcapng unknown interface is skipped", patch(ng, epb+8, 9), nNg - 1,
			[]dmg{{3, epb, true, rawsock.ErrDamaged, "for interface 9, but the section describes 2 interface(s)"}}},
		{"pcapng trailer mismatch is skipped", patch(ng, epb+epbLen-4, uint32(epbLen+4)), nNg - 1,
			[]dmg{{3, epb, true, rawsock.ErrDamaged, "total length 80 at its start, 84 at its end"}}},
		{"pcapng block length not a multiple of 4", patch(ng, epb+4, 81), 2,
			[]dmg{{3, epb, false, rawsock.ErrDamaged, "total length 81: want a multiple of 4"}}},
		{"pcapng block length over 16 MiB", patch(ng, epb+4, 1<<30), 2,
			[]dmg{{3, epb, false, rawsock.ErrDamaged, "total length 1073741824"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames, errs, err := readAll(t, tt.data)
			var fe *rawsock.FileError
			if err != nil && len(tt.errs) == 1 && tt.errs[0].frame == 0 && errors.As(err, &fe) {
				errs = []error{err}
			} else if err != nil {
				t.Fatalf("NewFileReader: %v", err)
			}
			if len(frames) != tt.frames {
				t.Errorf("read %d frames, want %d", len(frames), tt.frames)
			}
			if len(errs) != len(tt.errs) {
				t.Fatalf("errors %v, want %d", errs, len(tt.errs))
			}
			for i, w := range tt.errs {
				if !errors.As(errs[i], &fe) {
					t.Fatalf("error %v is no *FileError", errs[i])
				}
				if fe.Frame != w.frame || fe.Offset != int64(w.offset) || fe.Skipped != w.skip || !errors.Is(fe, w.is) || !bytes.Contains([]byte(fe.Error()), []byte(w.text)) {
					t.Errorf("error %q: frame %d offset %d skipped %v; want frame %d offset %d skipped %v, wrapping %v, saying %q",
						fe, fe.Frame, fe.Offset, fe.Skipped, w.frame, w.offset, w.skip, w.is, w.text)
				}
			}
		})
	}
}

// TestFileReaderNotCapture: what is not a capture file says so, wrapping
// ErrNotCapture (pktlab decode exits 2 for it).
func TestFileReaderNotCapture(t *testing.T) {
	for name, data := range map[string][]byte{
		"text":  []byte("hello, not a capture\n"),
		"empty": nil,
		"short": {0xd4, 0xc3},
		"gzip":  {0x1f, 0x8b, 8, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := rawsock.NewFileReader(bytes.NewReader(data))
			if !errors.Is(err, rawsock.ErrNotCapture) {
				t.Errorf("error %v, want one wrapping ErrNotCapture", err)
			}
		})
	}
}

// FuzzFileReader: no input makes the reader panic, loop, or hold a record over the
// formats' limits.
func FuzzFileReader(f *testing.F) {
	for _, path := range corpusFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 4096)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, _, _ := readAll(t, data)
		for _, fr := range frames {
			if len(fr.Data) > 16<<20 {
				t.Fatalf("frame of %d bytes", len(fr.Data))
			}
		}
	})
}

// writeLog keeps every Write a FileWriter makes, as separate calls.
type writeLog struct{ writes [][]byte }

func (w *writeLog) Write(p []byte) (int, error) {
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (w *writeLog) upTo(i int) []byte { return bytes.Join(w.writes[:i+1], nil) }

// TestFileWriterWritesWholeRecords: what a FileWriter hands its writer always ends on
// a record boundary, from the file header on, so a capture killed between two writes
// leaves a file that reads without error; and Flush hands over every frame written.
func TestFileWriterWritesWholeRecords(t *testing.T) {
	for _, format := range []string{"pcapng", "pcap"} {
		t.Run(format, func(t *testing.T) {
			log := &writeLog{}
			newW := rawsock.NewPcapngWriter
			if format == "pcap" {
				newW = rawsock.NewPcapWriter
			}
			fw, err := newW(log, []rawsock.FileInterface{{Name: "a:eth0"}, {Name: "b:eth0"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(log.writes) != 1 {
				t.Fatalf("%d writes after the header, want the header written at once", len(log.writes))
			}
			const n = 300
			t0 := time.Unix(1700000000, 0)
			for i := range n {
				data := bytes.Repeat([]byte{byte(i)}, 60+(i*37)%1455)
				f := rawsock.Frame{Data: data, Length: len(data), Time: t0.Add(time.Duration(i) * time.Millisecond)}
				iface := i % 2
				if format == "pcap" {
					iface = 0
				}
				if err := fw.WriteFrame(iface, &f); err != nil {
					t.Fatal(err)
				}
				if i == 10 {
					if err := fw.Flush(); err != nil {
						t.Fatal(err)
					}
					if frames, errs, err := readAll(t, log.upTo(len(log.writes)-1)); err != nil || len(errs) > 0 || len(frames) != 11 {
						t.Fatalf("after Flush: %d frames, errors %v %v; want the 11 written", len(frames), err, errs)
					}
				}
			}
			if err := fw.Flush(); err != nil {
				t.Fatal(err)
			}
			if len(log.writes) < 5 {
				t.Fatalf("%d writes for %d frames: the writer gathers without bound", len(log.writes), n)
			}
			last := 0
			for i := range log.writes {
				frames, errs, err := readAll(t, log.upTo(i))
				if err != nil || len(errs) > 0 {
					t.Fatalf("the file after write %d of %d does not end on a record: %v %v", i+1, len(log.writes), err, errs)
				}
				if len(frames) < last {
					t.Fatalf("write %d: %d frames, fewer than before", i+1, len(frames))
				}
				last = len(frames)
			}
			if last != n {
				t.Errorf("%d frames in the file, want %d", last, n)
			}
		})
	}
}
