package seqnum

import "testing"

func TestCompareAcrossWrap(t *testing.T) {
	tests := []struct {
		name     string
		v, w     Value
		lessThan bool
	}{
		{"plain", 1, 2, true},
		{"equal", 7, 7, false},
		{"greater", 9, 2, false},
		{"wrap", 0xfffffff0, 0x10, true},
		{"wrap reversed", 0x10, 0xfffffff0, false},
		{"half space", 0, 0x7fffffff, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.LessThan(tt.w); got != tt.lessThan {
				t.Errorf("%d.LessThan(%d) = %v, want %v", tt.v, tt.w, got, tt.lessThan)
			}
			if got := tt.v.LessThanEq(tt.w); got != (tt.lessThan || tt.v == tt.w) {
				t.Errorf("%d.LessThanEq(%d) = %v", tt.v, tt.w, got)
			}
		})
	}
}

func TestInWindow(t *testing.T) {
	tests := []struct {
		name  string
		v, lo Value
		size  Size
		want  bool
	}{
		{"first", 100, 100, 10, true},
		{"last", 109, 100, 10, true},
		{"past", 110, 100, 10, false},
		{"before", 99, 100, 10, false},
		{"wrapping window", 3, 0xfffffffe, 10, true},
		{"empty window", 100, 100, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.InWindow(tt.lo, tt.size); got != tt.want {
				t.Errorf("%d.InWindow(%d, %d) = %v, want %v", tt.v, tt.lo, tt.size, got, tt.want)
			}
		})
	}
	if got := Value(5).Size(Value(2)); got != Size(0xfffffffd) {
		t.Errorf("Size wraps: got %d", got)
	}
	if Max(0xffffffff, 1) != 1 || Min(0xffffffff, 1) != 0xffffffff {
		t.Errorf("Max/Min across wrap wrong")
	}
}
