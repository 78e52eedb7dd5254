package capfilter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestConformanceTcpdumpRead checks the x/net/bpf VM stand-in itself: the corpus is
// written to a pcap file and tcpdump filters it with libpcap's own matcher
// (tcpdump -r IN -w OUT EXPR); the frames it keeps must be the frames pktlab's
// program accepts. Each record's wire length equals its captured length, so "len"
// and truncation mean the same thing to both.
func TestConformanceTcpdumpRead(t *testing.T) {
	if !tcpdumpAvailable(t) {
		t.Skip("tcpdump not installed")
	}
	frames := corpus(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "corpus.pcap")
	writePcap(t, in, frames)
	for _, e := range conformanceExprs {
		prog, err := Compile(e, LinkTypeEthernet)
		if err != nil {
			continue // refusals are covered by TestConformance
		}
		t.Run(e, func(t *testing.T) {
			out := filepath.Join(dir, "out.pcap")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "tcpdump", "-r", in, "-w", out, e)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			kept := map[string]bool{}
			if err := cmd.Run(); err != nil {
				// libpcap refuses a filter it proved matches nothing; then nothing is kept.
				if !strings.Contains(stderr.String(), "rejects all packets") {
					t.Fatalf("tcpdump -r -w %q: %v: %s", e, err, stderr.String())
				}
			} else {
				kept = readPcap(t, out)
			}
			var want, got []string
			for _, f := range frames {
				if kept[string(f.data)] {
					want = append(want, f.name)
				}
				ok, err := Match(prog, f.data)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					got = append(got, f.name)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%q: frames kept by tcpdump -r (-want) and accepted by pktlab (+got):\n%s", e, diff)
			}
		})
	}
}

func writePcap(t *testing.T, path string, frames []frame) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(fr.data), Length: len(fr.data)}
		if err := w.WritePacket(ci, fr.data); err != nil {
			t.Fatal(err)
		}
	}
}

// readPcap returns the set of frame contents in a pcap file.
func readPcap(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	out := map[string]bool{}
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil && !strings.Contains(err.Error(), "EOF") {
			t.Fatalf("read %s: %v", path, err)
		}
		if err != nil {
			return out
		}
		out[string(data)] = true
	}
}
