package main

import (
	"os"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
)

// TestRunLadder runs the handshake with --ladder: two lanes, the three frames as
// arrows in their directions, the calls and the kernel's traced states under their
// lanes (SYN_SENT → ESTABLISHED right after the SYN-ACK), and the expectations after.
func TestRunLadder(t *testing.T) {
	privtest.Require(t)
	stdout, stderr, code := run(t, "run", "--ladder", "../../examples/C1.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	start, end := strings.Index(stdout, "\n[f1] tcp "), strings.Index(stdout, "--- expectations")
	if start < 0 || end < start {
		t.Fatalf("no ladder of flow 1 before the expectations:\n%s", stdout)
	}
	lines := strings.Split(stdout[start+1:end], "\n")
	find := func(sub string) string {
		for _, l := range lines {
			if strings.Contains(l, sub) {
				return l
			}
		}
		t.Errorf("no line with %q in:\n%s", sub, stdout)
		return ""
	}
	head := find("client")
	if c, s := strings.Index(head, "client"), strings.Index(head, "server"); c < 0 || s < c {
		t.Errorf("lanes: %q, want client then server", head)
	}
	for sub, arrow := range map[string]string{"SYN seq 0 mss 1460": "->|", "SYN-ACK seq 0 ack 1 mss 1460": "|<-", "--- ack 1 ---": "->|"} {
		if l := find(sub); !strings.Contains(l, arrow) {
			t.Errorf("%q is not drawn %s: %q", sub, arrow, l)
		}
	}
	// The client's connect is written under its lane (left), the server's accept
	// under the server's (right of the middle).
	conn, acc := find("== c connect(198.18.1.1:80) = 0"), find("== l accept(")
	if strings.Index(conn, "==") > len(head)/2 || strings.Index(acc, "==") < len(head)/3 {
		t.Errorf("calls not under their lanes:\n%s\n%s\n%s", head, conn, acc)
	}
	find(":: CLOSE → SYN_SENT")
	find(":: LISTEN → SYN_RECV")
	if est := find(":: SYN_SENT → ESTABLISHED"); !strings.Contains(stdout, find("SYN-ACK seq 0 ack 1")+"\n"+est+"\n") {
		t.Errorf("the client's ESTABLISHED is not drawn right after the SYN-ACK")
	}
	if !strings.Contains(stdout, "=== PASS ../../examples/C1.yaml: 10/10") {
		t.Error("no PASS summary")
	}
	for _, l := range lines {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("ladder line of %d columns, over 80: %q", n, l)
		}
	}
	if strings.Contains(stdout[:end], "Flags [S], seq") {
		t.Error("the text timeline is printed too")
	}
}

// TestRunHTML writes the report of a run: the experiment's comment, its expectations
// with want and seen, and the ladder's data with one row per frame shown.
func TestRunHTML(t *testing.T) {
	privtest.Require(t)
	out := t.TempDir() + "/c1.html"
	stdout, stderr, code := run(t, "run", "--html", out, "../../examples/C1.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"C1: the TCP three-way handshake", "<h2>Expectations</h2>", "the client&#39;s SYN, sequence number relative 0", `"l":"SYN seq 0 mss 1460"`, `"l":"SYN-ACK seq 0 ack 1 mss 1460"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if n := strings.Count(string(page), `<tr class="pass">`); n != 10 {
		t.Errorf("%d passed expectations in the report, want 10", n)
	}
	if _, _, code := run(t, "run", "--html", out, "../../examples/C1.yaml", "../../examples/E1.yaml"); code != 2 {
		t.Errorf("--html with two files: exit %d, want 2", code)
	}
}
