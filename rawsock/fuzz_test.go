package rawsock_test

import (
	"errors"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/internal/testcorpus"
)

// FuzzDecode feeds arbitrary frames to the decoder and the summarizer, as Ethernet
// frames and as bare IP packets: neither may panic, and a frame the decoder accepts
// must summarize to a non-empty line.
func FuzzDecode(f *testing.F) {
	for _, fr := range testcorpus.Read(f, ".", "testdata/corpus.pcapng") {
		f.Add(fr.Data)
	}
	eth := rawsock.NewDecoder(layers.LinkTypeEthernet)
	raw := rawsock.NewDecoder(layers.LinkTypeRaw)
	s := rawsock.NewSummarizer()
	var line []byte
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, d := range []*rawsock.Decoder{eth, raw} {
			err := d.Decode(frame)
			if err != nil && !errors.Is(err, rawsock.ErrTruncated) && !errors.Is(err, rawsock.ErrMalformed) {
				t.Errorf("Decode error %v wraps neither ErrTruncated nor ErrMalformed", err)
			}
			line = s.Append(line[:0], d.LinkType(), frame)
			if err == nil && len(line) == 0 {
				t.Errorf("empty summary for % x", frame)
			}
			line = rawsock.AppendVerbose(line[:0], d)
			line = rawsock.AppendHex(line[:0], d.LinkType(), frame, false)
		}
	})
}
