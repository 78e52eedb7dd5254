package rawsock_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// corpusFiles are the capture files taken in a lab by TestMakeCorpus.
var corpusFiles = []string{"testdata/corpus.pcap", "testdata/corpus.pcapng", "testdata/corpus-cooked.pcap"}

// summarize returns pktlab's summary line of every frame in a capture file.
func summarize(t *testing.T, path string) []string { return summarizeHex(t, path, false) }

// summarizeHex is summarize, with tcpdump -x's hex dump after each line when hex.
func summarizeHex(t *testing.T, path string, hex bool) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := rawsock.NewFileReader(f)
	if err != nil {
		t.Fatal(err)
	}
	s := rawsock.NewSummarizer()
	var lines []string
	var buf []byte
	for {
		fr, err := r.Next()
		if errors.Is(err, io.EOF) {
			return lines
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		buf = s.Append(buf[:0], fr.Link, fr.Data)
		if hex {
			buf = rawsock.AppendHex(buf, fr.Link, fr.Data, false)
		}
		lines = append(lines, strings.Split(string(buf), "\n")...)
	}
}

// TestSummaryGolden compares the summaries of the corpus with golden files, so that
// the format is checked where tcpdump is not installed.
func TestSummaryGolden(t *testing.T) {
	for _, path := range corpusFiles {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got := strings.Join(summarize(t, path), "\n") + "\n"
			golden := path + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("summaries differ from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// TestVerboseGolden keeps the -v layered view and the hex dump of the corpus stable.
func TestVerboseGolden(t *testing.T) {
	f, err := os.Open(corpusFiles[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := rawsock.NewFileReader(f)
	if err != nil {
		t.Fatal(err)
	}
	d := rawsock.NewDecoder(layers.LinkTypeEthernet)
	s := rawsock.NewSummarizer()
	var out []byte
	for {
		fr, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = s.Append(out, fr.Link, fr.Data)
		if derr := d.Decode(fr.Data); derr != nil {
			out = append(out, "\n  ! "+derr.Error()...)
		}
		out = rawsock.AppendVerbose(out, d)
		out = rawsock.AppendHex(out, fr.Link, fr.Data, true)
		out = append(out, '\n')
	}
	golden := "testdata/corpus.verbose.golden"
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(out)); diff != "" {
		t.Errorf("verbose view differs from %s (-want +got):\n%s", golden, diff)
	}
}

// TestSummaryMatchesTcpdump is the conformance test: for every frame of the corpus,
// pktlab's line equals `tcpdump -n -r FILE` without the timestamp. It needs tcpdump;
// under CI=true a missing tcpdump fails the test.
func TestSummaryMatchesTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump not installed; CI must install the Debian package tcpdump")
		}
		t.Skip("tcpdump not installed")
	}
	for _, tc := range []struct {
		path string
		hex  bool
	}{{corpusFiles[0], false}, {corpusFiles[1], false}, {corpusFiles[2], false}, {corpusFiles[0], true}, {corpusFiles[2], true}} {
		path := tc.path
		name := filepath.Base(path)
		args := []string{"-n", "-r", path}
		if tc.hex {
			name, args = name+"/x", []string{"-n", "-x", "-r", path}
		}
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(tcpdump, args...).Output()
			if err != nil {
				t.Fatalf("tcpdump -n -r %s: %v", path, err)
			}
			var want []string
			for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
				// "02:21:06.123456 IP …": drop the timestamp.
				if !strings.HasPrefix(l, "\t") {
					_, l, _ = strings.Cut(l, " ")
				}
				want = append(want, l)
			}
			got := summarizeHex(t, path, tc.hex)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pktlab and tcpdump -n differ on %s (-tcpdump +pktlab):\n%s", path, diff)
			}
			if !bytes.Contains(out, []byte("Flags [S]")) {
				t.Errorf("corpus %s has no SYN: recapture it with -corpus", path)
			}
		})
	}
}
