//go:build linux

package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pktlab/pktlab/internal/privtest"
	"github.com/pktlab/pktlab/testlab"
)

// TestRunStreams: with stdout to a pipe, pktlab run prints C3's timeline as the run
// goes: its first timeline line is out while the verdict is not yet (C3's connect
// takes 7 s to time out), in text and in JSON; the full report still follows. The
// text hides the IPv6 stacks' link-local chatter and says how much it hid, unless
// --chatter; JSON keeps everything.
func TestRunStreams(t *testing.T) {
	type streamed struct {
		name        string
		args        []string
		first, last string // the first timeline line, and the end of the report
		has, hasNot string // in the whole output: the IPv6 nodes' chatter shown, or hidden and counted
	}
	const text, pass = "  --  server: listen l 198.18.1.1:80", "=== PASS ../../examples/C3.yaml"
	cases := []streamed{
		{"text", []string{"run", "../../examples/C3.yaml"}, text, pass, "\nhidden: ", "ff02::"},
		{"chatter", []string{"run", "--chatter", "../../examples/C3.yaml"}, text, pass, "ff02::16", "\nhidden: "},
		{"json", []string{"run", "--json", "../../examples/C3.yaml"}, `"type":"step"`, `"type":"result"`, "ff02::16", "hidden"},
	}
	privtest.Require(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			began := time.Now()
			p := start(t, c.args...)
			p.waitFor(t, c.first)
			took := time.Since(began)
			if out := p.output(); strings.Contains(out, c.last) {
				t.Fatalf("the first timeline line came with the end of the run, not before:\n%s", out)
			}
			t.Logf("first timeline line after %v (C3 runs about 7 s)", took)
			<-p.exited
			if p.err != nil || !strings.Contains(p.output(), c.last) {
				t.Errorf("run ended with %v, want a passing run ending with %q:\n%s", p.err, c.last, p.output())
			}
			if out := p.output(); !strings.Contains(out, c.has) || strings.Contains(out, c.hasNot) {
				t.Errorf("output lacks %q or holds %q:\n%s", c.has, c.hasNot, out)
			}
			if out := p.output(); strings.Contains(out, "!!  PASS") {
				t.Errorf("an expectation that held is marked inline too, not only listed at the end:\n%s", out)
			}
		})
	}
}

// TestRunStopsWhenOutputCloses: `pktlab run … | head -1`: once the reader of its
// stdout is gone, the run stops at its next streamed line, removes its lab and exits
// 141 (128 + SIGPIPE), instead of being killed by the SIGPIPE with its lab up.
func TestRunStopsWhenOutputCloses(t *testing.T) {
	privtest.Require(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pktlabBin, "run", "../../examples/C3.yaml")
	cmd.Stdout = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	name := runningLab(t, cmd.Process.Pid)
	t.Cleanup(func() { testlab.ForceDown(name) })
	first, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "=== ../../examples/C3.yaml") {
		t.Fatalf("first line %q, %v", first, err)
	}
	r.Close()
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGPIPE) {
		t.Errorf("exit %d (%v), want %d", code, err, 128+int(syscall.SIGPIPE))
	}
	if ns := namespacesOf(name); len(ns) != 0 {
		t.Errorf("namespaces %v left after the output closed", ns)
	}
}
