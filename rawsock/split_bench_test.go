package rawsock_test

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/internal/testcorpus"
)

// BenchmarkDecodeOnly and BenchmarkSummaryOnly split BenchmarkDecodeSummary.
func BenchmarkDecodeOnly(b *testing.B) {
	syn, data := benchFrames(b)
	for _, f := range []struct {
		name  string
		frame []byte
	}{{"SYN", syn}, {"Data1514", data}} {
		b.Run(f.name, func(b *testing.B) {
			d := rawsock.NewDecoder(layers.LinkTypeEthernet)
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Decode(f.frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSummaryOnly is the summary of BenchmarkDecodeSummary alone: the line
// written from headers decoded once before the loop (AppendHeaders).
func BenchmarkSummaryOnly(b *testing.B) {
	syn, data := benchFrames(b)
	for _, f := range []struct {
		name  string
		frame []byte
	}{{"SYN", syn}, {"Data1514", data}} {
		b.Run(f.name, func(b *testing.B) {
			d := rawsock.NewDecoder(layers.LinkTypeEthernet)
			if err := d.Decode(f.frame); err != nil {
				b.Fatal(err)
			}
			s := rawsock.NewSummarizer()
			line := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				line = s.AppendHeaders(line[:0], &d.Headers)
			}
		})
	}
}

// BenchmarkSummaryBytes is the summary written from the frame's bytes, without
// decoded headers (Append), as for a frame no Decoder read.
func BenchmarkSummaryBytes(b *testing.B) {
	syn, data := benchFrames(b)
	for _, f := range []struct {
		name  string
		frame []byte
	}{{"SYN", syn}, {"Data1514", data}} {
		b.Run(f.name, func(b *testing.B) {
			s := rawsock.NewSummarizer()
			line := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				line = s.Append(line[:0], layers.LinkTypeEthernet, f.frame)
			}
		})
	}
}

// BenchmarkCorpusDecodeSummary and BenchmarkCorpusNewPacket are
// BenchmarkDecodeSummary and BenchmarkGopacketNewPacket over the frames a lab
// captured (testdata/corpus.pcapng: handshakes, data with the kernel's own
// timestamps, ARP, ICMP, IPv6, UDP), one after the other, so that neither the
// numbers nor the branches repeat from one frame to the next as in the two-frame
// benchmarks.
func BenchmarkCorpusDecodeSummary(b *testing.B) {
	frames := testcorpus.Read(b, ".", "testdata/corpus.pcapng")
	d := rawsock.NewDecoder(layers.LinkTypeEthernet)
	s := rawsock.NewSummarizer()
	line := make([]byte, 0, 256)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Decode(frames[i].Data) // a frame cut short still has its line
		line = s.AppendHeaders(line[:0], &d.Headers)
		if i++; i == len(frames) {
			i = 0
		}
	}
}

func BenchmarkCorpusNewPacket(b *testing.B) {
	frames := testcorpus.Read(b, ".", "testdata/corpus.pcapng")
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		gopacket.NewPacket(frames[i].Data, layers.LayerTypeEthernet, gopacket.Default)
		if i++; i == len(frames) {
			i = 0
		}
	}
}
