package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
)

// execWithoutBPF is what the test binary does when TestRunWithoutBPF starts it
// again: refuse bpf(2) to itself and everything it execs, then become pktlab run.
func execWithoutBPF(bin string) {
	if err := privtest.DenyBPF(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	args := []string{bin, "run", "../../examples/C1.yaml"}
	if err := syscall.Exec(bin, args, os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, "exec pktlab:", err)
		os.Exit(3)
	}
}

// TestRunWithoutBPF: on a host that refuses BPF (here a seccomp filter makes bpf(2)
// fail with EPERM, as a locked-down kernel would, while the run keeps the privileges a
// lab needs), pktlab run says so in one line on stderr, the timeline's kernel states
// come from the sock_diag poll and say so, and the kernel expectations fail naming
// why instead of passing on nothing.
func TestRunWithoutBPF(t *testing.T) {
	privtest.Require(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "PKTLAB_EXEC_WITHOUT_BPF="+pktlabBin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("pktlab run without BPF: %v, want exit 1 (the kernel expectations fail)\n%s\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "kernel tracing unavailable") || !strings.Contains(lines[0], "polled with sock_diag") {
		t.Errorf("stderr %q: want one line saying tracing is unavailable and sock_diag is polled", stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"new → ESTABLISHED (sock_diag poll)", "(ktrace: kernel tracing unavailable", "connect(198.18.1.1:80) = 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
