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
	"github.com/gopacket/gopacket"
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

// TestRelativeSeqMatchesTcpdump interleaves a TCP connection over IPv4 and one over
// IPv6 whose addresses are the IPv4 ones followed by zeros, with the same ports, and
// compares the relative sequence numbers with tcpdump's: each family keeps its own
// connections.
func TestRelativeSeqMatchesTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump not installed; CI must install the Debian package tcpdump")
		}
		t.Skip("tcpdump not installed")
	}
	a4, b4 := c4.As4(), s4.As4()
	var a6, b6 [16]byte
	copy(a6[:], a4[:])
	copy(b6[:], b4[:])
	type seg struct {
		v6, back     bool
		seq, ack     uint32
		syn, ackFlag bool
		data         string
	}
	segs := []seg{
		{v6: false, seq: 1000, syn: true},
		{v6: true, seq: 50000, syn: true},
		{v6: false, back: true, seq: 7000, ack: 1001, syn: true, ackFlag: true},
		{v6: true, back: true, seq: 90000, ack: 50001, syn: true, ackFlag: true},
		{v6: false, seq: 1001, ack: 7001, ackFlag: true},
		{v6: true, seq: 50001, ack: 90001, ackFlag: true, data: "hello"},
		{v6: false, seq: 1001, ack: 7001, ackFlag: true, data: "hi"},
		{v6: true, back: true, seq: 90001, ack: 50006, ackFlag: true},
		{v6: false, back: true, seq: 7001, ack: 1003, ackFlag: true, data: "ok"},
	}
	var buf bytes.Buffer
	w, err := rawsock.NewPcapWriter(&buf, []rawsock.FileInterface{{Name: "relative"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, sg := range segs {
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 5001, Seq: sg.seq, Ack: sg.ack, SYN: sg.syn, ACK: sg.ackFlag, Window: 500}
		src, dst := a4[:], b4[:]
		if sg.v6 {
			src, dst = a6[:], b6[:]
		}
		if sg.back {
			tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
			src, dst = dst, src
		}
		var ip gopacket.SerializableLayer
		et := layers.EthernetTypeIPv4
		if sg.v6 {
			et = layers.EthernetTypeIPv6
			ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		} else {
			ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		}
		frame, err := rawsock.Serialize(nil, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}, ip, tcp, gopacket.Payload(sg.data))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFrame(0, &rawsock.Frame{Data: frame, Length: len(frame)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "relative.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tcpdump, "-n", "-r", path).Output()
	if err != nil {
		t.Fatalf("tcpdump -n -r %s: %v", path, err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		_, l, _ = strings.Cut(l, " ")
		want = append(want, l)
	}
	got := summarize(t, path)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pktlab and tcpdump -n differ (-tcpdump +pktlab):\n%s", diff)
	}
	if !strings.Contains(strings.Join(want, "\n"), "seq 1:6, ack 1,") {
		t.Errorf("tcpdump shows no relative numbers for the IPv6 data segment:\n%s", out)
	}
}
