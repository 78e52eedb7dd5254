package main

import (
	"os"
	"strings"
	"testing"
)

// TestDecodeLadder: pktlab decode --ladder draws a capture file as the picture
// package's golden ladder of the same file says, at 80 columns and wide.
func TestDecodeLadder(t *testing.T) {
	for _, c := range []struct{ name, width string }{{"C1", "80"}, {"G1", "80"}, {"D3", "132"}} {
		t.Run(c.name+"/"+c.width, func(t *testing.T) {
			want, err := os.ReadFile("../../picture/testdata/" + c.name + "." + c.width + ".ladder")
			if err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := run(t, "decode", "--ladder", "--width", c.width, "../../picture/testdata/"+c.name+".pcapng")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if stdout != string(want) {
				t.Errorf("decode --ladder differs from the golden ladder:\n%s\nwant:\n%s", stdout, want)
			}
		})
	}
}

// TestLadderFlags: bad picture flags are bad input, and colour follows --color.
func TestLadderFlags(t *testing.T) {
	for _, args := range [][]string{
		{"decode", "--ladder", "--color", "sometimes", "../../picture/testdata/C1.pcapng"},
		{"decode", "--flow", "1", "../../picture/testdata/C1.pcapng"},
		{"decode", "--ladder", "--json", "../../picture/testdata/C1.pcapng"},
		{"decode", "--ladder", "--flow", "7", "../../picture/testdata/C1.pcapng"},
	} {
		if _, stderr, code := run(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2; stderr: %s", args, code, stderr)
		}
	}
	out, _, code := run(t, "decode", "--ladder", "--color", "always", "../../picture/testdata/C1.pcapng")
	if code != 0 || !strings.Contains(out, "\033[") {
		t.Errorf("--color always: exit %d, no ANSI escape in:\n%s", code, out)
	}
	out, _, _ = run(t, "decode", "--ladder", "../../picture/testdata/C1.pcapng")
	if strings.Contains(out, "\033[") {
		t.Errorf("colour on a pipe with --color auto:\n%q", out)
	}
}

// TestReportCommand writes the report of a capture file; a file that is no capture is
// bad input.
func TestReportCommand(t *testing.T) {
	out := t.TempDir() + "/g1.html"
	if _, stderr, code := run(t, "report", "../../picture/testdata/G1.pcapng", "-o", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<svg id="ladder"`, `"name":"router:eth0"`, `"nat":"198.18.1.2:40000 > 198.19.2.2:80 on router:eth0"`, "<h2>Flows</h2>"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if _, stderr, code := run(t, "report", "../../examples/C1.yaml", "-o", out); code != 2 || !strings.Contains(stderr, "not a pcap or pcapng file") {
		t.Errorf("report of a YAML file: exit %d, stderr %q; want 2 and a reason", code, stderr)
	}
	if _, _, code := run(t, "report", "../../picture/testdata/G1.pcapng"); code != 2 {
		t.Errorf("report without -o: exit %d, want 2", code)
	}
}
