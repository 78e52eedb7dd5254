package drill

import (
	"context"
	"strings"
	"testing"
)

// TestDrillCompare: runs that agree give no divergence; the first differing packet is
// named with both sides; a run that stopped is named with its mismatch.
func TestDrillCompare(t *testing.T) {
	s, err := Load(context.Background(), "testdata/retransmit.pkt")
	if err != nil {
		t.Fatal(err)
	}
	run := func(flags ...Option) *Result {
		res, err := Run(context.Background(), s, Options{Stack: "userspace", Flags: flags})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := run(), run()
	if d := Compare(a, b); d != nil {
		t.Errorf("two identical runs diverge: %+v", d)
	}
	// A smaller MSS changes nothing this script checks but the SYN-ACK's option.
	c := run(Option{Name: "mss", Value: "1000"})
	d := Compare(a, c)
	if d == nil || d.Pos.Line != 11 || !strings.Contains(d.Kernel, "mss 1460") || !strings.Contains(d.User, "mss 1000") {
		t.Fatalf("divergence %+v, want line 11 with mss 1460 against mss 1000", d)
	}
	if !strings.Contains(d.User, "bad outbound TCP options") {
		t.Errorf("the stopped run's side lacks its mismatch: %q", d.User)
	}
}
