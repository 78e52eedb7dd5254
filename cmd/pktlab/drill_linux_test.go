package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
)

const drillData = "../../drill/testdata/"

// loadTolerance is the timing tolerance (µs) of the kernel-stack runs whose point is
// a verdict on flags or sequence numbers: the kernel runs on the wall clock, which a
// loaded machine stretches by a good part of a second (a syscall 190 ms late under
// stress-ng failed a script on timing before its sequence error).
const loadTolerance = "2000000"

// TestDrillExitCodes: 0 for a passing script, 1 with packetdrill's message for a wrong
// one, 2 with file:line:col for one that does not parse (before any lab is made).
func TestDrillExitCodes(t *testing.T) {
	privtest.Require(t)
	out, errs, code := run(t, "drill", "--tolerance_usecs", loadTolerance, drillData+"passive-open.pkt")
	if code != 0 || !strings.Contains(out, "passive-open.pkt: pass (kernel stack") {
		t.Errorf("passing script: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = run(t, "drill", "-v", "--tolerance_usecs", loadTolerance, drillData+"fail-flags.pkt")
	want := "fail-flags.pkt:12: error handling packet: bad outbound TCP flags: expected: S actual: S."
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "actual packet: > S. 0:0(0) ack 1") {
		t.Errorf("wrong script: exit %d, want 1 and %q\n%s%s", code, want, out, errs)
	}
	if !strings.Contains(out, "fail-flags.pkt:11  < S 0:0(0) win 32792") {
		t.Errorf("-v does not show the inbound SYN:\n%s", out)
	}
	_, errs, code = run(t, "drill", "-D", "bogus=1", drillData+"udp.pkt")
	if code != 2 || !strings.Contains(errs, "unknown option --bogus") {
		t.Errorf("-D bogus=1: exit %d, want 2\n%s", code, errs)
	}
	bad := filepath.Join(t.TempDir(), "bad.pkt")
	os.WriteFile(bad, []byte("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(0)\n"), 0o644)
	out, errs, code = run(t, "drill", bad)
	if code != 2 || !strings.Contains(errs, "bad.pkt:3:1: an inbound TCP packet needs a window") || out != "" {
		t.Errorf("bad script: exit %d, want 2 and a position\nstdout %q\nstderr %q", code, out, errs)
	}
}

// TestDrillDirectory runs a directory with -j 2 and prints the summary table.
func TestDrillDirectory(t *testing.T) {
	privtest.Require(t)
	dir := t.TempDir()
	for _, f := range []string{"passive-open.pkt", "fail-seq.pkt"} {
		b, err := os.ReadFile(drillData + f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	out, errs, code := run(t, "drill", "-j", "2", "--tolerance_usecs", loadTolerance, dir)
	if code != 1 || !strings.Contains(out, "1 of 2 passed") || !strings.Contains(out, "bad outbound TCP sequence number: expected: 101 actual: 1") {
		t.Errorf("exit %d, want 1 and a summary\n%s%s", code, out, errs)
	}
}

func TestDrillHelpTeaches(t *testing.T) {
	out, _, code := run(t, "drill", "--help")
	for _, w := range []string{"< S 0:0(0) win", "--stack", "TCP_CONGESTION", "docs/drill.md", "Exit status: 0"} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("drill --help lacks %q (exit %d)", w, code)
		}
	}
}

// TestDrillBoth runs one script on both stacks and shows where they part: the kernel
// ACKs the first data at once, pktlab's TCP 40 ms later (docs/drill.md).
func TestDrillBoth(t *testing.T) {
	privtest.Require(t)
	out, errs, code := run(t, "drill", "--stack", "both", "--tolerance_usecs", "10000", drillData+"passive-open.pkt")
	for _, w := range []string{
		"passive-open.pkt: pass (kernel stack",
		"passive-open.pkt:19: error handling packet: timing error: expected outbound packet at 0.010000 sec but happened at 0.050000 sec",
		"first divergence at ../../drill/testdata/passive-open.pkt:19:",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("--stack both output lacks %q (exit %d)\n%s%s", w, code, out, errs)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1 (the userspace run fails)", code)
	}
}

// TestDrillUserspaceNeedsNoLab: --stack userspace runs without a lab, and a script's
// shell lines are reported as skipped.
func TestDrillUserspaceNeedsNoLab(t *testing.T) {
	out, errs, code := run(t, "drill", "--stack", "userspace", drillData+"retransmit.pkt")
	if code != 0 || !strings.Contains(out, "retransmit.pkt: pass (userspace stack, script time 1.410 s") || !strings.Contains(out, "skipped: the userspace stack has no node") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}

// TestDrillJSON: --json gives one event per line and the verdict with its message.
func TestDrillJSON(t *testing.T) {
	out, errs, code := run(t, "drill", "--json", "--stack", "userspace", drillData+"fail-seq.pkt")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if code != 1 || !strings.HasPrefix(last, `{"type":"result"`) || !strings.Contains(last, `"passed":false`) ||
		!strings.Contains(last, `"msg":"error handling packet: bad outbound TCP sequence number: expected: 101 actual: 1"`) {
		t.Errorf("exit %d, last line %s\n%s", code, last, errs)
	}
	if !strings.Contains(out, `{"type":"event","script":"../../drill/testdata/fail-seq.pkt","stack":"userspace","line":9,"kind":"packet"`) ||
		!strings.Contains(out, `"packet":"< S 0:0(0) win 32792 <mss 1000,nop,wscale 7>"`) {
		t.Errorf("no event line for the inbound SYN:\n%s", out)
	}
}
