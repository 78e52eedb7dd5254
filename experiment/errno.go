package experiment

import (
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// errnoNames is the set of errno names this system's C library knows (errno(3)), as
// unix.ErrnoName spells them: the names a call expectation may give. Linux numbers
// its errors below 4096 (include/linux/err.h, MAX_ERRNO).
var errnoNames = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for e := syscall.Errno(1); e < 4096; e++ {
		if n := unix.ErrnoName(e); n != "" {
			m[n] = true
		}
	}
	return m
})

// validErrnoName reports whether name is an errno name, such as ECONNREFUSED.
func validErrnoName(name string) bool { return errnoNames()[name] }
