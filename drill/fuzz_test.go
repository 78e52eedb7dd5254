package drill

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDrillParse feeds scripts to Parse: it must never panic, must return either a
// script or an *Error with a position inside the input.
func FuzzDrillParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.pkt")
	for _, p := range files {
		if src, err := os.ReadFile(p); err == nil {
			f.Add(src)
		}
	}
	f.Add([]byte("0 < S 0:0(0) win 1 <mss 1,sack 1:2,TS val 1 ecr 2,kind 99 0a0b,FO 1234>\n+0...1 accept(3, ..., ...) = 4"))
	f.Add([]byte("0 %{ assert 1 < tcpi_rto <= (3 // 2) and not tcpi_options & 1 }%"))
	f.Fuzz(func(t *testing.T, src []byte) {
		_, err := Parse("f.pkt", src)
		if err == nil {
			return
		}
		e, ok := err.(*Error)
		if !ok {
			t.Fatalf("error %T %v is not *Error", err, err)
		}
		if e.Pos.Line < 1 || e.Pos.Col < 1 || e.Pos.Line > len(src)+1 {
			t.Fatalf("position %v out of the input", e.Pos)
		}
	})
}
