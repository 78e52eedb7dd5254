package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// pktlabBin is the pktlab binary built once for the tests that run it as a user would.
var pktlabBin string

func TestMain(m *testing.M) {
	if bin := os.Getenv("PKTLAB_EXEC_WITHOUT_BPF"); bin != "" {
		execWithoutBPF(bin) // TestRunWithoutBPF's child; does not return
	}
	dir, err := os.MkdirTemp("", "pktlab-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // so the unprivileged-user test can run it
	pktlabBin = filepath.Join(dir, "pktlab")
	if out, err := exec.Command("go", "build", "-o", pktlabBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build pktlab: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs the pktlab binary and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runContext(t, context.Background(), args...)
}

// runContext is run with a context that kills pktlab when done.
func runContext(t *testing.T, ctx context.Context, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, pktlabBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run pktlab %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// TestEveryCommandHasHelpAndExample: --help teaches, on every command.
func TestEveryCommandHasHelpAndExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" || (c.Parent() != nil && c.Parent().Name() == "completion") {
			return
		}
		if c.Short == "" {
			t.Errorf("%s has no short help", c.CommandPath())
		}
		if c.Example == "" {
			t.Errorf("%s has no Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(rootCmd)
}

func TestUsageErrorsExit2(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: x\nnodes:\n  a:\n    interfaces:\n      eth0: [10.1.1.1/24]\nlinks: []\n"), 0o644)
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"bad topology", []string{"lab", "up", bad}, bad + ":5:14: a:eth0: address 10.1.1.1/24 is outside the lab ranges"},
		{"missing file", []string{"lab", "up", "/nonexistent.yaml"}, "/nonexistent.yaml: cannot read topology"},
		{"no args", []string{"lab", "up"}, "accepts 1 arg(s), received 0"},
		{"unknown flag", []string{"lab", "ls", "--bogus"}, "unknown flag: --bogus"},
		{"unknown command", []string{"frobnicate"}, "unknown command \"frobnicate\""},
		{"down without names", []string{"lab", "down"}, "name the labs to remove, or give --all"},
		{"ip checksum through the kernel", []string{"send", "x", "a:eth0", "--dst", "198.18.1.1", "--l3", "--bad-ip-checksum"}, "with --l3 the kernel fills in the IPv4 total length and header checksum itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := run(t, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.wantStderr)
			}
		})
	}
}

func TestCheckValidatesWithoutPrivileges(t *testing.T) {
	out, stderr, code := run(t, "lab", "up", "--check", "../../examples/labs/nat.yaml")
	if code != 0 || !strings.Contains(out, "lab nat is valid: 5 nodes, 4 links") {
		t.Errorf("exit %d, out %q, err %q", code, out, stderr)
	}
}
