//go:build linux

package rawsock

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// Receive memory bounds. A TPACKET_V3 ring is kernel memory pinned for the socket's
// life (vmalloc'ed when it cannot be had in one piece, net/packet/af_packet.c
// alloc_pg_vec), and SO_RCVBUFFORCE lets a privileged caller queue as much as it asks
// for. A size typed by a user therefore never reaches the kernel unchecked: the rings
// and receive buffers this process holds together stay under MaxRecvMemory and under a
// quarter of the memory the machine has available.
const (
	// MinRing is the smallest ring Open maps: two blocks. A smaller Config.Ring is
	// rounded up to it.
	MinRing = 2 * ringBlockSize
	// MaxRecvMemory is the most receive memory (rings and SO_RCVBUF) the sockets of
	// one process may hold at once: 1 GiB.
	MaxRecvMemory = 1 << 30
)

// ErrTooLarge is what Open's error wraps when Config.Ring or Config.RecvBuffer asks for
// more receive memory than the process may take (see RecvMemoryLimit).
var ErrTooLarge = errors.New("receive memory limit reached")

// recvMem accounts the receive memory of this process's open sockets.
var recvMem struct {
	mu   sync.Mutex // guards used
	used int        // bytes of rings and receive buffers held by open sockets
}

// RecvMemoryLimit returns how many more bytes of receive memory (ring or receive
// buffer) sockets of this process may take now: the smaller of MaxRecvMemory and a
// quarter of MemAvailable (proc(5) /proc/meminfo), less what open sockets hold.
func RecvMemoryLimit() (int, error) {
	recvMem.mu.Lock()
	defer recvMem.mu.Unlock()
	return recvMemoryLeft()
}

// recvMemoryLeft is RecvMemoryLimit with recvMem.mu held. The memory already held
// counts towards MemAvailable: it was available before this process took it.
func recvMemoryLeft() (int, error) {
	avail, err := memAvailable()
	if err != nil {
		return 0, err
	}
	limit := min(MaxRecvMemory, (avail+recvMem.used)/4)
	return max(0, limit-recvMem.used), nil
}

// ringBlocks is the number of blocks of a ring of about size bytes.
func ringBlocks(size int) int { return max(2, size/ringBlockSize) }

// ringBytes is the memory a ring of about size bytes takes.
func ringBytes(size int) int { return ringBlocks(size) * ringBlockSize }

// RingSize returns the bytes a ring asked for with Config.Ring = size takes: size
// rounded down to whole 256 KiB blocks, and at least MinRing.
func RingSize(size int) int { return ringBytes(min(max(size, 0), MaxRecvMemory+ringBlockSize)) }

// reserveRecvMemory takes n bytes of the receive memory budget, or says why not.
// what names the setting, e.g. "receive ring of 8 MiB".
func reserveRecvMemory(n int, what string) error {
	recvMem.mu.Lock()
	defer recvMem.mu.Unlock()
	left, err := recvMemoryLeft()
	if err != nil {
		return err
	}
	if n > left {
		return fmt.Errorf("%s exceeds the receive memory left to this process, %s (at most %s in all, and a quarter of MemAvailable): %w",
			what, sizeText(left), sizeText(MaxRecvMemory), ErrTooLarge)
	}
	recvMem.used += n
	return nil
}

func releaseRecvMemory(n int) {
	recvMem.mu.Lock()
	recvMem.used -= n
	recvMem.mu.Unlock()
}

// memAvailable reads MemAvailable from /proc/meminfo, in bytes.
func memAvailable() (int, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("rawsock: read available memory: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemAvailable:" {
			kb, err := strconv.Atoi(string(f[1]))
			if err != nil {
				break
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("rawsock: no MemAvailable line in /proc/meminfo")
}

// sizeText writes n bytes in the largest binary unit that divides it, e.g. "512 KiB".
func sizeText(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// recvMemory is the receive memory a socket opened with cfg takes, checked for sign.
func recvMemory(cfg *Config) (int, string, error) {
	switch {
	case cfg.Ring < 0:
		return 0, "", fmt.Errorf("receive ring of %d bytes: want a positive size", cfg.Ring)
	case cfg.RecvBuffer < 0:
		return 0, "", fmt.Errorf("receive buffer of %d bytes: want a positive size", cfg.RecvBuffer)
	case cfg.Ring > 0:
		n := ringBytes(min(cfg.Ring, MaxRecvMemory+ringBlockSize))
		return n, "receive ring of " + sizeText(n), nil
	case cfg.RecvBuffer > 0:
		n := min(cfg.RecvBuffer, MaxRecvMemory+1)
		return n, "receive buffer of " + sizeText(n), nil
	}
	return DefaultRecvBuffer, "receive buffer of " + sizeText(DefaultRecvBuffer), nil
}
