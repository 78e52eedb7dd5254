package rawsock_test

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
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

func BenchmarkSummaryOnly(b *testing.B) {
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
