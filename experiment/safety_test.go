package experiment

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestParseDoesNotMaterialiseSizes parses a file whose sends ask for the largest size
// allowed, and a hundred crafts of 65 000 bytes each: the bytes are made when the step
// runs, so parsing allocates in proportion to the file, not to what it asks for
// (FuzzParse spent seconds per input on a `size: 1073741824`, issue 13).
func TestParseDoesNotMaterialiseSizes(t *testing.T) {
	var crafts strings.Builder
	for range 100 {
		crafts.WriteString(", {node: client, craft: {src: 198.18.1.2, dst: 198.18.1.1, udp: {dport: 9, size: 65000}}}")
	}
	src := fmt.Sprintf("%ssteps: [{node: client, connect: c, addr: 198.18.1.1:80}, {node: client, send: c, size: %d}, {node: client, send: c, size: %d}%s]\n", labOK, MaxStepSize, MaxStepSize, crafts.String())
	if _, err := Parse("x.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := Parse("x.yaml", []byte(src))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Errorf("parsing a %d-byte file allocated %d bytes", len(src), got)
	}
	if got := len(f.Steps[1].Socket.payload()); got != MaxStepSize {
		t.Errorf("the send step's payload is %d bytes, want %d", got, MaxStepSize)
	}
	if got := len(f.Steps[3].Craft.spec().Payload); got != 65000 {
		t.Errorf("the craft's payload is %d bytes, want 65000", got)
	}
}

// TestErrorListCapped: a file with hundreds of errors lists the first
// testlab.MaxShownErrors and counts the rest, as a topology does.
func TestErrorListCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString(labOK + "steps:\n")
	for range 300 {
		b.WriteString("  - {sleep: 1x}\n")
	}
	_, err := Parse("x.yaml", []byte(b.String()))
	list, ok := err.(ErrorList)
	if !ok || len(list) != 300 {
		t.Fatalf("got %T with %d errors, want an ErrorList of 300", err, len(list))
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 21 || lines[20] != "and 280 more errors" || !strings.HasPrefix(lines[0], "x.yaml:8:13: sleep \"1x\"") {
		t.Errorf("error text has %d lines, first %q, last %q; want 20 errors then \"and 280 more errors\"", len(lines), lines[0], lines[len(lines)-1])
	}
}
