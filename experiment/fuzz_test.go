package experiment

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary files to the parser: it must return a file or positioned
// errors, never panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../examples/*.yaml")
	files = append(files, "testdata/ok.yaml", "testdata/wrong.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("lab: {nodes: {a: {}}}\nsteps: [{parallel: x, steps: [[{sleep: 1s}]]}]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := parse("testdata/fuzz.yaml", src, nil)
		if err == nil && file == nil {
			t.Fatal("no file and no error")
		}
		if err != nil {
			if !IsInvalid(err) {
				t.Fatalf("error without position: %v", err)
			}
			for _, e := range err.(ErrorList) {
				if e.Msg == "" {
					t.Fatal("empty error message")
				}
			}
		}
	})
}
