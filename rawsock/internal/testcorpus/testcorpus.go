// Package testcorpus reads the capture files rawsock's tests share (the corpus a lab
// captured, testdata/corpus.*, and the benchmarks' frames, testdata/bench.pcap) for
// the tests of rawsock, rawsock/decode and rawsock/header. It is for tests only.
package testcorpus

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
)

// Files are the capture files, relative to rawsock's directory: Ethernet frames in
// pcapng and pcap, cooked (Linux SLL) frames, the benchmarks' two frames.
var Files = []string{"testdata/corpus.pcapng", "testdata/corpus.pcap", "testdata/corpus-cooked.pcap", "testdata/bench.pcap"}

// Frame is a frame of a capture file and its link type.
type Frame struct {
	Link layers.LinkType
	Data []byte
}

// Read returns the frames of the capture files at paths, each in bytes of its own;
// dir is rawsock's directory relative to the test's ("." or "..").
func Read(tb testing.TB, dir string, paths ...string) []Frame {
	tb.Helper()
	var out []Frame
	for _, path := range paths {
		path = filepath.Join(dir, path)
		f, err := os.Open(path)
		if err != nil {
			tb.Fatal(err)
		}
		r, err := rawsock.NewFileReader(f)
		if err != nil {
			f.Close()
			tb.Fatalf("%s: %v", path, err)
		}
		for {
			fr, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				tb.Fatalf("%s: %v", path, err)
			}
			out = append(out, Frame{fr.Link, bytes.Clone(fr.Data)})
		}
		f.Close()
	}
	return out
}
