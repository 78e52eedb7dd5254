package timeline

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestErrnoNamesMatchUnix holds the timeline's errno names to golang.org/x/sys/unix's,
// both ways.
func TestErrnoNamesMatchUnix(t *testing.T) {
	for e := syscall.Errno(1); e < 4096; e++ {
		want := unix.ErrnoName(e)
		if want == "" {
			want = "errno " + itoa(int(e))
		}
		if got := ErrnoName(e); got != want {
			t.Errorf("ErrnoName(%d) = %q, want %q", int(e), got, want)
		}
		if n := unix.ErrnoName(e); n != "" {
			if v, ok := ErrnoValue(n); !ok || unix.ErrnoName(v) != n {
				t.Errorf("ErrnoValue(%q) = %d, %v", n, int(v), ok)
			}
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
