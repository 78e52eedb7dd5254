package capfilter

import (
	"testing"
)

// TestProgramSize keeps programs close to tcpdump's in length: the kernel runs
// every instruction on the hot path and refuses programs over 4096 instructions.
// It fails if any program is more than twice tcpdump's length plus 4.
func TestProgramSize(t *testing.T) {
	for _, lt := range []LinkType{LinkTypeEthernet, LinkTypeRaw} {
		golden, err := readGolden(goldenPath(lt))
		if err != nil {
			t.Fatal(err)
		}
		var mine, theirs, n int
		for _, e := range conformanceExprs {
			g := golden[e]
			if g.err != "" {
				continue
			}
			prog, err := Compile(e, lt)
			if err != nil {
				t.Errorf("Compile(%q, %v): %v", e, lt, err)
				continue
			}
			if len(prog) > 2*len(g.prog)+4 {
				t.Errorf("%v %q: %d instructions, tcpdump %d", lt, e, len(prog), len(g.prog))
			}
			if testing.Verbose() && len(prog) != len(g.prog) {
				t.Logf("%v %q: %d instructions, tcpdump %d", lt, e, len(prog), len(g.prog))
			}
			mine, theirs, n = mine+len(prog), theirs+len(g.prog), n+1
		}
		t.Logf("%v: %d expressions, %d instructions in all, tcpdump %d (ratio %.2f)", lt, n, mine, theirs, float64(mine)/float64(theirs))
	}
}
