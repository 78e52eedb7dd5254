//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
)

// TestReadmeMainJob runs what the README's main job tells a new user to run, so that
// the one command on the front page keeps working: the pktlab arguments of that
// command, from the repository root, must exit 0 with every expectation held and a
// timeline that shows the handshake.
func TestReadmeMainJob(t *testing.T) {
	privtest.Require(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## The main job")
	if !ok {
		t.Fatal(`README has no "## The main job" section`)
	}
	rest, _, _ = strings.Cut(rest, "\n## ")
	var args []string
	for _, l := range strings.Split(rest, "\n") {
		if strings.HasPrefix(l, "    ") && strings.Contains(l, "go build") {
			_, cmd, ok := strings.Cut(l, "./pktlab ")
			if !ok {
				t.Fatalf("main job command %q does not run ./pktlab", l)
			}
			args = strings.Fields(cmd)
		}
	}
	if len(args) < 2 || args[0] != "run" {
		t.Fatalf("main job should be one indented `go build … && sudo ./pktlab run FILE` line; got args %q", args)
	}
	cmd := exec.Command(pktlabBin, args...)
	cmd.Dir = "../.."
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pktlab %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"Flags [S], seq", "Flags [S.], seq", "connect(198.18.1.1:80) = 0", "=== PASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("main job output lacks %q:\n%s", want, out)
		}
	}
}
