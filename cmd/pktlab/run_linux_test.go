package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
)

// pktlab- namespaces currently present, to prove a bad file creates nothing.
func pktlabNamespaces() map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "pktlab-") {
			out[e.Name()] = true
		}
	}
	return out
}

func writeFile(t *testing.T, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunBadFileExits2 needs no privileges: the file is rejected before any check.
func TestRunBadFileExits2(t *testing.T) {
	p := writeFile(t, "bad.yaml", "lab:\n  nodes:\n    a: {interfaces: {eth0: [198.18.0.1/24]}}\n    b: {interfaces: {eth0: [198.18.0.2/24]}}\n  links: [[a:eth0, b:eth0]]\nsteps:\n  - {node: a, connect: c, addr: 198.18.0.2}\n")
	before := pktlabNamespaces()
	_, stderr, code := run(t, "run", p)
	if code != 2 {
		t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
	}
	want := p + ":7:33: addr \"198.18.0.2\" must be address:port"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if !strings.Contains(stderr, "nothing was run") {
		t.Errorf("stderr does not say nothing was run:\n%s", stderr)
	}
	// Other tests (and packages) create labs meanwhile: look only for this file's,
	// which pktlab run would name x-bad-<random>.
	after := pktlabNamespaces()
	for ns := range after {
		if !before[ns] && strings.HasPrefix(ns, "pktlab-x-bad-") {
			t.Errorf("a bad file created namespace %s", ns)
		}
	}
	if _, _, code := run(t, "run", "/nonexistent.yaml"); code != 2 {
		t.Errorf("missing file: exit %d, want 2", code)
	}
}

// TestRunPassFailAndPcapng runs the handshake (exit 0, pcapng checked with tshark) and
// the wrong-expectation fixture (exit 1, the summary says what was seen).
func TestRunPassFailAndPcapng(t *testing.T) {
	privtest.Require(t)
	pcap := filepath.Join(t.TempDir(), "c1.pcapng")
	stdout, stderr, code := run(t, "run", "-w", pcap, "../../examples/C1.yaml")
	if code != 0 {
		t.Fatalf("C1: exit %d, want 0\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Flags [S], seq ", "[relative seq 0]", "[relative seq 0 ack 1]", "connect(198.18.1.1:80) = 0", "=== PASS ../../examples/C1.yaml: 10/10"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("C1 output lacks %q", want)
		}
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is not installed; CI needs it to check the pcapng")
		}
		t.Log("tshark not installed: pcapng not checked with Wireshark's reader")
	} else {
		out, err := exec.Command(tshark, "-r", pcap, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment").CombinedOutput()
		if err != nil {
			t.Fatalf("tshark -r: %v\n%s", err, out)
		}
		for _, want := range []string{"client:eth0", "server:eth0", "connect(198.18.1.1:80) = 0", "relative seq 1 ack 1"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("tshark output lacks %q:\n%s", want, out)
			}
		}
	}

	stdout, _, code = run(t, "run", "../../experiment/testdata/wrong.yaml")
	if code != 1 {
		t.Errorf("wrong.yaml: exit %d, want 1", code)
	}
	for _, want := range []string{"FAIL ../../experiment/testdata/wrong.yaml:13:5", "want: step conn: errno ECONNRESET", "seen: client c connect(198.18.1.1:80) = -1 ECONNREFUSED"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("wrong.yaml output lacks %q:\n%s", want, stdout)
		}
	}
}

// TestRunJSONAndParallel runs two files in parallel labs with --json: every line is
// JSON, both files report, and the summaries say which passed.
func TestRunJSONAndParallel(t *testing.T) {
	privtest.Require(t)
	stdout, stderr, code := run(t, "run", "--json", "-j", "2", "../../examples/C2.yaml", "../../experiment/testdata/wrong.yaml")
	if code != 1 {
		t.Errorf("exit %d, want 1 (one file fails)\n%s", code, stderr)
	}
	checkSchema(t, "run --json", stdout, "run", "frame", "call", "step", "outcome", "result")
	ok := map[string]bool{}
	frames := 0
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		switch m["type"] {
		case "frame":
			frames++
		case "result":
			r := m["result"].(map[string]any)
			ok[r["file"].(string)] = r["ok"].(bool)
		}
	}
	if frames == 0 {
		t.Error("no frame lines")
	}
	if !ok["../../examples/C2.yaml"] || ok["../../experiment/testdata/wrong.yaml"] {
		t.Errorf("summaries: %v, want C2 ok and wrong.yaml not", ok)
	}
}
