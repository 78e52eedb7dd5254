package rawsock_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
)

// benchFrames crafts the two frames the benchmarks decode: a TCP SYN with Linux's
// options (74 bytes) and a full-size data segment (1514 bytes, 1448 bytes of data).
func benchFrames(tb testing.TB) (syn, data []byte) {
	e := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: c4.AsSlice(), DstIP: s4.AsSlice(), Flags: layers.IPv4DontFragment, Id: 1}
	s := &layers.TCP{SrcPort: 40000, DstPort: 5001, Seq: 3456789, Window: 64240, SYN: true,
		Options: []layers.TCPOption{rawsock.OptMSS(1460), rawsock.OptSACKPermitted(), rawsock.OptTimestamps(1, 0), rawsock.OptNOP(), rawsock.OptWScale(7)}}
	syn, err := rawsock.Serialize(nil, e, ip, s)
	if err != nil {
		tb.Fatal(err)
	}
	d := &layers.TCP{SrcPort: 40000, DstPort: 5001, Seq: 3456790, Ack: 1, Window: 502, ACK: true, PSH: true,
		Options: []layers.TCPOption{rawsock.OptNOP(), rawsock.OptNOP(), rawsock.OptTimestamps(2, 1)}}
	data, err = rawsock.Serialize(nil, e, ip, d, gopacket.Payload(bytes.Repeat([]byte{'x'}, 1448)))
	if err != nil {
		tb.Fatal(err)
	}
	return syn, data
}

// TestBenchFrames keeps testdata/bench.pcap, the frames bench/frames.sh gives scapy,
// equal to the frames the Go benchmarks use (-update rewrites it).
func TestBenchFrames(t *testing.T) {
	syn, data := benchFrames(t)
	if len(syn) != 74 || len(data) != 1514 {
		t.Fatalf("frames of %d and %d bytes, want 74 and 1514", len(syn), len(data))
	}
	var buf bytes.Buffer
	w, err := rawsock.NewPcapWriter(&buf, []rawsock.FileInterface{{Name: "bench"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range [][]byte{syn, data} {
		if err := w.WriteFrame(0, &rawsock.Frame{Data: f, Length: len(f)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/bench.pcap", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open("testdata/bench.pcap")
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	defer f.Close()
	r, err := rawsock.NewFileReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{syn, data} {
		fr, err := r.Next()
		if err != nil || !bytes.Equal(fr.Data, want) {
			t.Fatalf("testdata/bench.pcap frame %d differs from benchFrames (run with -update): %v", i, err)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("testdata/bench.pcap has more than two frames")
	}
}

// benchDecodeSummary decodes frames in turn with one Decoder and writes the line of
// each from its headers into one reused buffer, as a capture does. A frame that
// decodes with an error still has its line when faults is true; else the error
// fails the benchmark.
func benchDecodeSummary(b *testing.B, frames [][]byte, faults bool) {
	d := rawsock.NewDecoder(layers.LinkTypeEthernet)
	s := rawsock.NewSummarizer()
	line := make([]byte, 0, 256)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(frames[i]); err != nil && !faults {
			b.Fatal(err)
		}
		line = s.AppendHeaders(line[:0], &d.Headers)
		if i++; i == len(frames) {
			i = 0
		}
	}
	if len(line) == 0 {
		b.Fatal("empty summary")
	}
}

// benchEach runs bench on each of benchFrames' frames, as sub-benchmarks SYN and
// Data1514.
func benchEach(b *testing.B, bench func(b *testing.B, frame []byte)) {
	syn, data := benchFrames(b)
	b.Run("SYN", func(b *testing.B) { bench(b, syn) })
	b.Run("Data1514", func(b *testing.B) { bench(b, data) })
}

func benchNewPacket(b *testing.B, frame []byte) {
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		if p.ErrorLayer() != nil {
			b.Fatal(p.ErrorLayer().Error())
		}
	}
}

// BenchmarkDecodeSummary is pktlab's hot path: decode into reused Headers and write
// the tcpdump-style line from them into a reused buffer.
func BenchmarkDecodeSummary(b *testing.B) {
	benchEach(b, func(b *testing.B, frame []byte) {
		b.SetBytes(int64(len(frame)))
		benchDecodeSummary(b, [][]byte{frame}, false)
	})
}

// BenchmarkGopacketNewPacket is the comparison: gopacket.NewPacket with default
// options, decoding only (no summary).
func BenchmarkGopacketNewPacket(b *testing.B) { benchEach(b, benchNewPacket) }
