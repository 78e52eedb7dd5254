package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pktlab/pktlab/labtest"
)

// runBounded is run with a kill after a minute, so that a command that reads without
// end fails the test instead of hanging it. The limit only catches that bug: a passing
// command ends in milliseconds.
func runBounded(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, stderr, code := runContext(t, ctx, args...)
	if ctx.Err() != nil {
		t.Fatalf("pktlab %v did not end: it reads its input without end", args)
	}
	return out, stderr, code
}

// TestInputFilesAreBounded: every input file is refused, with exit 2 and a message
// naming it, when it is a device, a FIFO or too large, before anything is read.
func TestInputFilesAreBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, nil, 0o644)
	os.Truncate(big, 2<<20) // sparse
	exp := filepath.Join(dir, "exp.yaml")
	os.WriteFile(exp, []byte("lab: /dev/zero\nsteps:\n  - {node: a, listen: l, addr: 198.18.0.1:80}\n"), 0o644)
	badFilter := filepath.Join(dir, "filter.txt")
	os.WriteFile(badFilter, []byte("# SYNs only\ntcp and\n  frob\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"topology /dev/zero", []string{"lab", "up", "--check", "/dev/zero"}, "topology /dev/zero: a character device, not a regular file"},
		{"topology fifo", []string{"lab", "up", "--check", fifo}, "topology " + fifo + ": a named pipe (FIFO), not a regular file"},
		{"topology too big", []string{"lab", "up", "--check", big}, "topology " + big + ": 2 MiB is over the limit of 1 MiB for a topology"},
		{"experiment /dev/zero", []string{"run", "/dev/zero"}, "experiment /dev/zero: a character device, not a regular file"},
		{"experiment's lab /dev/zero", []string{"run", exp}, "topology /dev/zero: a character device, not a regular file"},
		{"decode /dev/zero", []string{"decode", "/dev/zero"}, "capture file /dev/zero: a character device, not a regular file"},
		{"decode fifo", []string{"decode", fifo}, "capture file " + fifo + ": a named pipe (FIFO)"},
		{"capture filter file /dev/zero", []string{"capture", "nolab", "a:eth0", "-F", "/dev/zero"}, "capture filter /dev/zero: a character device, not a regular file"},
		{"decode filter file fifo", []string{"decode", "x.pcap", "-F", fifo}, "capture filter " + fifo + ": a named pipe (FIFO)"},
		{"filter file position", []string{"capture", "nolab", "a:eth0", "-F", badFilter}, badFilter + ":3:3: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runBounded(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

// TestFilterFileIsUsed: -F's expression, comments blanked, is the one applied: decode
// of a pcap keeps only what it matches.
func TestFilterFileIsUsed(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "udp.txt")
	os.WriteFile(f, []byte("# only UDP\nudp # and nothing else\n"), 0o644)
	pcaps, _ := filepath.Glob("../../rawsock/testdata/*.pcap*")
	if len(pcaps) == 0 {
		t.Fatal("no capture files under rawsock/testdata")
	}
	for _, p := range pcaps {
		withF, _, code1 := run(t, "decode", p, "-F", f)
		withf, _, code2 := run(t, "decode", p, "-f", "udp")
		if code1 != code2 || withF != withf {
			t.Errorf("%s: -F file (exit %d) and -f udp (exit %d) differ:\n%s\n---\n%s", p, code1, code2, withF, withf)
		}
	}
	if _, stderr, code := run(t, "decode", pcaps[0], "-F", f, "-f", "tcp"); code != 2 || !strings.Contains(stderr, "-f and -F both give a filter") {
		t.Errorf("-f with -F: exit %d %q", code, stderr)
	}
}

// TestNftApplyStdinHonoursSIGTERM: `nft apply -` reading a pipe nobody writes to ends
// at SIGTERM. The signal is sent once a thread of pktlab sleeps in the pipe's read
// (its wchan), so that it is the read that is interrupted.
func TestNftApplyStdinHonoursSIGTERM(t *testing.T) {
	lab := labtest.Start(t, nftLab)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := exec.Command(pktlabBin, "nft", lab.Name(), "router", "apply", "-")
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	waitPipeRead(t, cmd.Process.Pid)
	at := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Logf("nft apply - exited (%v) %v after SIGTERM", err, time.Since(at).Round(time.Microsecond))
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
			t.Errorf("nft apply - after SIGTERM: %v, want exit 143", err)
		}
	case <-time.After(time.Minute): // only catches the bug: it ends in milliseconds
		cmd.Process.Kill()
		t.Fatal("nft apply - ignored SIGTERM while reading its input")
	}
}

// waitPipeRead waits until a thread of process pid sleeps in a pipe read
// (/proc/PID/task/TID/wchan: pipe_read, or anon_pipe_read since Linux 6.16).
func waitPipeRead(t *testing.T, pid int) {
	t.Helper()
	labtest.Until(t, fmt.Sprintf("process %d to read its standard input", pid), func() (bool, error) {
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/wchan")
		return slices.ContainsFunc(tasks, func(p string) bool {
			b, _ := os.ReadFile(p)
			return strings.Contains(string(b), "pipe_read")
		}), nil
	})
}
