//go:build linux

package rawsock_test

import (
	"errors"
	"testing"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock"
)

// TestRecvMemoryBounded: a ring or receive buffer over what the process may take is
// refused before the socket exists (ErrTooLarge), the rings of open sockets count
// together, and closing gives their memory back.
func TestRecvMemoryBounded(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	base := rawsock.RecvMemoryInUse()
	tooBig := []struct {
		name string
		cfg  rawsock.Config
	}{
		{"ring over 1 GiB", rawsock.Config{Ring: rawsock.MaxRecvMemory + 1<<20}},
		{"ring of 100 000 MiB (issue 13)", rawsock.Config{Ring: 100000 << 20}},
		{"receive buffer over 1 GiB", rawsock.Config{RecvBuffer: 2 << 30}},
	}
	for _, tt := range tooBig {
		if c, err := rawsock.Open(lab.Node("a"), "eth0", &tt.cfg); !errors.Is(err, rawsock.ErrTooLarge) {
			if c != nil {
				c.Close()
			}
			t.Errorf("%s: Open error %v, want ErrTooLarge", tt.name, err)
		}
	}
	for _, cfg := range []rawsock.Config{{Ring: -1}, {RecvBuffer: -1}} {
		if c, err := rawsock.Open(lab.Node("a"), "eth0", &cfg); err == nil {
			c.Close()
			t.Errorf("Open(%+v) succeeded, want an error for a negative size", cfg)
		}
	}
	if got := rawsock.RecvMemoryInUse(); got != base {
		t.Fatalf("refused sockets hold %d bytes", got-base)
	}
	// 4 MiB and 100 KiB: rounded down to whole 256 KiB blocks.
	ring := open(t, lab, "a", "eth0", &rawsock.Config{Ring: 4<<20 + 100<<10})
	if got := rawsock.RecvMemoryInUse() - base; got != 4<<20 || rawsock.RingSize(4<<20+100<<10) != 4<<20 {
		t.Errorf("a ring of 4 MiB + 100 KiB holds %d bytes, want 4 MiB", got)
	}
	small := open(t, lab, "b", "eth0", &rawsock.Config{Ring: 1})
	if got := rawsock.RecvMemoryInUse() - base; got != 4<<20+rawsock.MinRing {
		t.Errorf("with a second ring of 1 byte (rounded up to MinRing) %d bytes held, want %d", got, 4<<20+rawsock.MinRing)
	}
	// Alone it would fit; with the two rings open it does not.
	if c, err := rawsock.Open(lab.Node("a"), "eth0", &rawsock.Config{Ring: rawsock.MaxRecvMemory - 2<<20}); !errors.Is(err, rawsock.ErrTooLarge) {
		if c != nil {
			c.Close()
		}
		t.Errorf("a ring of 1 GiB - 2 MiB beside 4.5 MiB of rings: error %v, want ErrTooLarge", err)
	}
	ring.Close()
	small.Close()
	if got := rawsock.RecvMemoryInUse(); got != base {
		t.Errorf("after Close %d bytes still held", got-base)
	}
	if left, err := rawsock.RecvMemoryLimit(); err != nil || left <= 0 || left > rawsock.MaxRecvMemory {
		t.Errorf("RecvMemoryLimit = %d, %v", left, err)
	}
}
