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
	benchEach(b, func(b *testing.B, frame []byte) {
		d := rawsock.NewDecoder(layers.LinkTypeEthernet)
		b.ReportAllocs()
		for b.Loop() {
			if err := d.Decode(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSummaryOnly is the summary of BenchmarkDecodeSummary alone: the line
// written from headers decoded once before the loop (AppendHeaders).
func BenchmarkSummaryOnly(b *testing.B) {
	benchEach(b, func(b *testing.B, frame []byte) {
		d := rawsock.NewDecoder(layers.LinkTypeEthernet)
		if err := d.Decode(frame); err != nil {
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

// BenchmarkSummaryBytes is the summary written from the frame's bytes, without
// decoded headers (Append), as for a frame no Decoder read.
func BenchmarkSummaryBytes(b *testing.B) {
	benchEach(b, func(b *testing.B, frame []byte) {
		s := rawsock.NewSummarizer()
		line := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			line = s.Append(line[:0], layers.LinkTypeEthernet, frame)
		}
	})
}

// corpusData is the frames of the lab corpus (testdata/corpus.pcapng).
func corpusData(b *testing.B) [][]byte {
	var out [][]byte
	for _, f := range testcorpus.Read(b, ".", "testdata/corpus.pcapng") {
		out = append(out, f.Data)
	}
	return out
}

// BenchmarkCorpusDecodeSummary and BenchmarkCorpusNewPacket are
// BenchmarkDecodeSummary and BenchmarkGopacketNewPacket over the frames a lab
// captured (testdata/corpus.pcapng: handshakes, data with the kernel's own
// timestamps, ARP, ICMP, IPv6 neighbour discovery and MLD, UDP, four frames cut
// short or with bad options), one after the other, so that neither the numbers nor
// the branches repeat from one frame to the next as in the two-frame benchmarks.
func BenchmarkCorpusDecodeSummary(b *testing.B) { benchDecodeSummary(b, corpusData(b), true) }

func BenchmarkCorpusNewPacket(b *testing.B) {
	frames := corpusData(b)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		gopacket.NewPacket(frames[i], layers.LayerTypeEthernet, gopacket.Default)
		if i++; i == len(frames) {
			i = 0
		}
	}
}
