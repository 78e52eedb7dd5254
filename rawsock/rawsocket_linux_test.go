//go:build linux

package rawsock_test

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/testlab"
)

// rawSocket opens socket(AF_PACKET, SOCK_RAW, proto) in node n without any library in
// between, so the test controls exactly the value socket(2) receives.
func rawSocket(t *testing.T, n *testlab.Node, proto int) int {
	t.Helper()
	var fd int
	err := n.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if err != nil {
		t.Fatalf("socket(AF_PACKET, SOCK_RAW, %d) in %s: %v", proto, n.Name(), err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// drain counts the frames queued on a non-blocking socket.
func drain(t *testing.T, fd int) int {
	t.Helper()
	buf := make([]byte, 65536)
	for n := 0; ; n++ {
		if _, _, err := unix.Recvfrom(fd, buf, 0); err != nil {
			if err == unix.EAGAIN {
				return n
			}
			t.Fatalf("recvfrom: %v", err)
		}
	}
}

// recvUntil reads the non-blocking socket fd, waiting in poll(2), until a frame
// satisfies stop, and returns how many frames it read up to that one. It fails the
// test after labtest.FailAfter.
func recvUntil(t *testing.T, fd int, stop func([]byte) bool) int {
	t.Helper()
	buf := make([]byte, 65536)
	end := time.Now().Add(labtest.FailAfter)
	for n := 1; ; {
		m, _, err := unix.Recvfrom(fd, buf, 0)
		switch {
		case err == nil:
			if stop(buf[:m]) {
				return n
			}
			n++
		case err == unix.EAGAIN && time.Now().Before(end):
			if _, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(time.Until(end).Milliseconds())+1); err != nil && err != unix.EINTR {
				t.Fatalf("poll: %v", err)
			}
		default:
			t.Fatalf("recvfrom after %d frames: %v", n-1, err)
		}
	}
}
