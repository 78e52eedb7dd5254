//go:build linux

package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pktlab/pktlab/labtest"
)

const corpusNG = "../../rawsock/testdata/corpus.pcapng"

// TestDecodeCommand reads the lab-captured corpus: every line carries the pcapng
// interface name and the tcpdump-style summary of the golden file, and -f keeps
// exactly the frames of one kind.
func TestDecodeCommand(t *testing.T) {
	out, stderr, code := run(t, "decode", corpusNG)
	if code != 0 {
		t.Fatalf("decode exit %d: %s", code, stderr)
	}
	golden, err := os.ReadFile(corpusNG + ".golden")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(golden)), "\n")
	got := strings.Split(strings.TrimSpace(out), "\n")
	if len(got) != len(want) {
		t.Fatalf("decode printed %d lines, want %d", len(got), len(want))
	}
	for i, l := range got {
		// "15:04:05.000000 client:eth0 SUMMARY"
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 || (f[1] != "client:eth0" && f[1] != "server:eth0") || f[2] != want[i] {
			t.Errorf("line %d = %q, want TIME IFACE %q", i, l, want[i])
		}
	}
	arp, _, _ := run(t, "decode", corpusNG, "-f", "arp")
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(arp), "\n") {
		if !strings.Contains(l, " ARP, ") {
			t.Errorf("-f arp printed %q", l)
		}
		n++
	}
	if wantN := strings.Count(string(golden), "ARP, "); n != wantN {
		t.Errorf("-f arp printed %d frames, the corpus has %d ARP frames", n, wantN)
	}
	if _, _, code := run(t, "decode", corpusNG, "-f", "tcp port"); code != 2 {
		t.Errorf("bad filter: exit %d, want 2", code)
	}
	if _, _, code := run(t, "decode", "no-such-file.pcap"); code != 2 {
		t.Errorf("missing file: exit %d, want 2", code)
	}
}

const crsTopo = `
nodes:
  client:
    interfaces:
      eth0: [198.18.1.2/24]
    routes: [default via 198.18.1.1]
  router:
    forward: true
    interfaces:
      eth0: [198.18.1.1/24]
      eth1: [198.19.2.1/24]
  server:
    interfaces:
      eth0: [198.19.2.2/24]
    routes: [default via 198.19.2.1]
links:
  - [client:eth0, router:eth0]
  - [router:eth1, server:eth0]
`

// startJSONCapture starts pktlab capture with its output to out and returns once it
// says it is capturing; the rest of its stderr is dropped.
func startJSONCapture(t *testing.T, out io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(pktlabBin, append([]string{"capture"}, args...)...)
	c.Stdout = out
	r, err := c.StderrPipe()
	if err == nil {
		err = c.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill() })
	br := bufio.NewReader(r)
	if line, err := br.ReadString('\n'); !strings.Contains(line, "capturing on") {
		t.Fatalf("capture did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, br)
	return c
}

// TestCaptureAndSend captures on both router links to pcapng while pktlab send
// crafts a SYN through the client's routing and waits for the RST, sr1-style. The
// file must show the SYN on both links (TTL 64, then 63) and open in tshark with the
// interfaces named node:iface.
func TestCaptureAndSend(t *testing.T) {
	lab := labtest.Start(t, crsTopo)
	file := filepath.Join(t.TempDir(), "router.pcapng")
	capture := exec.Command(pktlabBin, "capture", lab.Name(), "router:eth0", "router:eth1", "-w", file, "-f", "tcp")
	stderr, err := capture.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() || !strings.Contains(sc.Text(), "capturing on") {
		t.Fatalf("capture did not start: %q", sc.Text())
	}
	// The same two frames on eth1 (the SYN, the RST), as JSON records.
	var jout bytes.Buffer
	jcap := startJSONCapture(t, &jout, lab.Name(), "router:eth1", "--json", "-c", "2", "--duration", labtest.FailAfter.String(), "-f", "tcp") // -c ends it; the duration only a hang
	// A window scale over 14 goes out as given (RFC 7323 §2.3 has the receiver use 14).
	out, errOut, code := run(t, "send", lab.Name(), "client:eth0", "--tcp", "--syn", "--dport", "80", "--mss", "1400", "--wscale", "99",
		"--dst", "198.19.2.2", "--l3", "--expect", "tcp and src host 198.19.2.2")
	if code != 0 || !strings.Contains(out, "198.19.2.2.80 > 198.18.1.2.40000: Flags [R.], seq 0, ack 1001") {
		t.Errorf("send exit %d, want the RST as answer:\n%s%s", code, out, errOut)
	}
	// The answer came back through the router, so both frames are in its rings: stop
	// the capture as Ctrl-C does, instead of at a time it may reach before the send.
	if err := capture.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var rest bytes.Buffer
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	if err := capture.Wait(); err != nil {
		t.Fatalf("capture: %v\n%s", err, rest.String())
	}
	if err := jcap.Wait(); err != nil {
		t.Fatalf("capture --json: %v", err)
	}
	checkSchema(t, "capture --json", jout.String(), "frame")
	if n := strings.Count(jout.String(), `"type":"frame"`); n != 2 || !strings.Contains(jout.String(), `"flags":"S","seq":1000`) {
		t.Errorf("capture --json: %d frames, want the SYN and the RST:\n%s", n, jout.String())
	}
	if !strings.Contains(rest.String(), "router:eth1: 2 received by filter, 0 dropped by kernel") {
		t.Errorf("capture statistics:\n%s", rest.String())
	}
	dec, _, _ := run(t, "decode", file, "-v")
	for _, want := range []string{"router:eth0 IP 198.18.1.2.40000 > 198.19.2.2.80: Flags [S], seq 1000, win 64240, options [mss 1400,nop,wscale 99], length 0",
		"router:eth1 IP 198.18.1.2.40000 > 198.19.2.2.80: Flags [S]", "ttl 64", "ttl 63"} {
		if !strings.Contains(dec, want) {
			t.Errorf("decode of the capture lacks %q:\n%s", want, dec)
		}
	}
	tsharkNames(t, file, "router:eth0", "router:eth1")
}

// TestCaptureInterrupt: Ctrl-C ends a capture cleanly, with the frame count and the
// kernel's counters per interface, and exit status 0.
func TestCaptureInterrupt(t *testing.T) {
	lab := labtest.Start(t, crsTopo)
	capture := exec.Command(pktlabBin, "capture", lab.Name(), "client:eth0", "server:eth0", "-f", "icmp")
	var out bytes.Buffer
	capture.Stdout = &out
	stderr, err := capture.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() || !strings.Contains(sc.Text(), "capturing on") {
		t.Fatalf("capture did not start: %q", sc.Text())
	}
	if _, errOut, code := run(t, "send", lab.Name(), "client:eth0", "--dst", "198.19.2.2", "--l3", "--expect", "icmp"); code != 0 {
		t.Fatalf("send: exit %d: %s", code, errOut)
	}
	capture.Process.Signal(os.Interrupt)
	var rest bytes.Buffer
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	if err := capture.Wait(); err != nil {
		t.Fatalf("capture after Ctrl-C: %v\n%s", err, rest.String())
	}
	for _, want := range []string{"4 frames captured", "client:eth0: 2 received by filter, 0 dropped by kernel", "server:eth0: 2 received by filter, 0 dropped by kernel"} {
		if !strings.Contains(rest.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, rest.String())
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"client:eth0 IP 198.18.1.2 > 198.19.2.2: ICMP echo request, id 1, seq 1, length 8",
		"server:eth0 IP 198.18.1.2 > 198.19.2.2: ICMP echo request, id 1, seq 1, length 8",
		"server:eth0 IP 198.19.2.2 > 198.18.1.2: ICMP echo reply, id 1, seq 1, length 8",
		"client:eth0 IP 198.19.2.2 > 198.18.1.2: ICMP echo reply, id 1, seq 1, length 8"}
	if len(lines) != len(want) {
		t.Fatalf("capture printed %d lines, want 4 merged in time order:\n%s", len(lines), out.String())
	}
	for i, l := range lines {
		if _, rest, _ := strings.Cut(l, " "); rest != want[i] {
			t.Errorf("line %d = %q, want TIME %s", i, l, want[i])
		}
	}
}

// tsharkNames checks that tshark reads the file and names its interfaces.
func tsharkNames(t *testing.T, file string, names ...string) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark not installed; CI must install the Debian package tshark")
		}
		t.Skip("tshark not installed")
	}
	cmd := exec.Command(tshark, "-r", file, "-T", "fields", "-e", "frame.interface_name")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", file, err)
	}
	for _, n := range names {
		if !strings.Contains(string(out), n+"\n") {
			t.Errorf("tshark shows interfaces %q, want %s among them", out, n)
		}
	}
}
