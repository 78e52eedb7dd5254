package capfilter

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// FuzzCompile checks that the compiler never panics, and that every program it emits
// assembles, fits the kernel's limit, and runs in the x/net/bpf VM without error
// on corpus frames and on the fuzzed frame.
func FuzzCompile(f *testing.F) {
	for _, e := range conformanceExprs {
		f.Add(e, []byte{})
	}
	for _, fr := range baseCorpus(f) {
		f.Add("tcp port 80 or udp and host 198.18.1.2", fr.data)
	}
	frames := baseCorpus(f)
	f.Fuzz(func(t *testing.T, expr string, data []byte) {
		for _, lt := range []LinkType{LinkTypeEthernet, LinkTypeRaw} {
			prog, err := Compile(expr, lt)
			if err != nil {
				var rej *RejectsAllError
				if !IsSyntax(err) && !errors.As(err, &rej) && !strings.Contains(err.Error(), "capfilter: ") {
					t.Fatalf("Compile(%q, %v): error without the package prefix: %v", expr, lt, err)
				}
				continue
			}
			if len(prog) > MaxInstructions {
				t.Fatalf("Compile(%q, %v): %d instructions", expr, lt, len(prog))
			}
			if _, err := bpf.Assemble(prog); err != nil {
				t.Fatalf("Compile(%q, %v): program does not assemble: %v", expr, lt, err)
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("Compile(%q, %v): VM refuses program: %v", expr, lt, err)
			}
			// The unoptimized program is the reference for the optimizer, run
			// leniently (see runLenient): the optimizer may drop loads whose value
			// does not matter, which only changes verdicts on frames too short
			// for them.
			plain, err := compile(expr, lt, false)
			if err != nil {
				if strings.Contains(err.Error(), "kernel's limit") {
					continue
				}
				t.Fatalf("unoptimized compile(%q, %v): %v", expr, lt, err)
			}
			run := func(b []byte) {
				if _, err := vm.Run(b); err != nil {
					t.Fatalf("Compile(%q, %v): run: %v", expr, lt, err)
				}
				got, err1 := runLenient(prog, b)
				want, err2 := runLenient(plain, b)
				if err1 != nil || err2 != nil || got != want {
					t.Fatalf("Compile(%q, %v) on % x: optimized program returns %d (%v), unoptimized %d (%v)", expr, lt, b, got, err1, want, err2)
				}
			}
			run(data)
			for _, fr := range frames {
				run(fr.data)
			}
		}
	})
}
