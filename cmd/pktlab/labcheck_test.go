package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/labtest"
)

// TestCheckCatchesWhatUpWouldFailOn: topologies that passed --check and then failed
// (or panicked) in lab up are refused by --check, exit 2, with file:line:col.
func TestCheckCatchesWhatUpWouldFailOn(t *testing.T) {
	two := "name: x\nnodes:\n  a:\n    interfaces: {eth0: [198.18.0.1/24]}\n  b:\n    interfaces: {eth0: [198.18.0.2/24]}\nlinks: [[a:eth0, b:eth0]]\n"
	tests := []struct{ name, src, want string }{
		{"no nodes", "name: x\nnodes: {}\nlinks: []\n", ":2:1: nodes is empty"},
		{"sysctl that does not exist", strings.Replace(two, "  b:\n", "    sysctls: {net.ipv4.tcp_nonsense: 1}\n  b:\n", 1), ":5:15: node a: sysctl net.ipv4.tcp_nonsense does not exist"},
		{"interface named lo", strings.ReplaceAll(two, "eth0", "lo"), ":4:18: a:lo: the name lo is taken in every lab node"},
		{"bridge port named br0", strings.ReplaceAll(strings.Replace(two, "  b:\n    interfaces: {eth0: [198.18.0.2/24]}", "  b:\n    kind: bridge\n    interfaces: {br0: []}", 1), "b:eth0", "b:br0"), ":7:18: node b is a bridge, and its bridge device is called br0"},
		{"node name with '-'", "name: prbq\nnodes:\n  a-b:\n    interfaces: {eth0: [198.18.0.1/24]}\n  c:\n    interfaces: {eth0: [198.18.0.2/24]}\nlinks: [[a-b:eth0, c:eth0]]\n", ":3:3: node name \"a-b\" must be 1 to 20 characters of a-z and 0-9 (no '-'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeTopo(t, tt.src)
			out, stderr, code := run(t, "lab", "up", "--check", p)
			if code != 2 || !strings.Contains(stderr, p+tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out, stderr, p+tt.want)
			}
		})
	}
}

// TestCheckSizeLimits: a topology over the node limit is refused, --max-nodes admits
// it, and thousands of errors print as the first 20 and a count.
func TestCheckSizeLimits(t *testing.T) {
	big := writeTopo(t, labtest.Chain("big", 300))
	if _, stderr, code := run(t, "lab", "up", "--check", big); code != 2 || !strings.Contains(stderr, "300 nodes, more than the limit of 256 (pktlab lab up --max-nodes N raises it)") {
		t.Errorf("300 nodes: exit %d %q", code, stderr)
	}
	if out, stderr, code := run(t, "lab", "up", "--check", "--max-nodes", "300", big); code != 0 || !strings.Contains(out, "lab big is valid: 300 nodes, 299 links") {
		t.Errorf("300 nodes with --max-nodes 300: exit %d %q %q", code, out, stderr)
	}
	if _, stderr, code := run(t, "lab", "up", "--check", "--max-nodes", "0", big); code != 2 || !strings.Contains(stderr, "take a positive number") {
		t.Errorf("--max-nodes 0: exit %d %q", code, stderr)
	}

	var b strings.Builder
	b.WriteString("name: x\nnodes:\n")
	for i := range 250 {
		fmt.Fprintf(&b, "  n%d:\n    interfaces:\n", i)
		for j := range 20 {
			fmt.Fprintf(&b, "      e%d: [not-an-address]\n", j)
		}
	}
	many := filepath.Join(t.TempDir(), "many.yaml")
	os.WriteFile(many, []byte(b.String()), 0o644)
	_, stderr, code := run(t, "lab", "up", "--check", many)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 2 || len(lines) != 21 || !strings.HasPrefix(lines[20], "and ") || !strings.HasSuffix(lines[20], " more errors") {
		t.Errorf("5000 errors: exit %d, %d lines, last %q; want exit 2, 21 lines ending with a count", code, len(lines), lines[len(lines)-1])
	}
}
