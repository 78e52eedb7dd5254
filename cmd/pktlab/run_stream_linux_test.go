//go:build linux

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pktlab/pktlab/internal/privtest"
)

// TestRunStreams: with stdout to a pipe, pktlab run prints C3's timeline as the run
// goes: its first timeline line is out while the verdict is not yet (C3's connect
// takes 7 s to time out), in text and in JSON; the full report still follows.
func TestRunStreams(t *testing.T) {
	type streamed struct {
		name        string
		args        []string
		first, last string // the first timeline line, and the end of the report
	}
	cases := []streamed{
		{"text", []string{"run", "../../examples/C3.yaml"}, "  --  server: listen l 198.18.1.1:80", "=== PASS ../../examples/C3.yaml"},
		{"json", []string{"run", "--json", "../../examples/C3.yaml"}, `"type":"step"`, `"type":"result"`},
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
		})
	}
}
