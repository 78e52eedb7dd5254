package drill

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/tcpstate"
)

// revents is what poll(2) would report for a socket, from the machine's state as
// Linux's tcp_poll computes it: POLLIN for data, end of file or a connection to
// accept, POLLOUT when connected with room to write, POLLERR and POLLHUP for a failed
// or closed connection, POLLRDHUP after the peer's FIN.
func (u *userStack) revents(s *usock) int16 {
	if s == nil {
		return unix.POLLNVAL
	}
	if s.typ == unix.SOCK_DGRAM {
		ev := int16(unix.POLLOUT)
		if len(s.udpRx) > 0 {
			ev |= unix.POLLIN
		}
		return ev
	}
	if s.listening {
		if len(s.queue) > 0 {
			return unix.POLLIN
		}
		return 0
	}
	if s.conn == nil {
		return unix.POLLOUT | unix.POLLHUP
	}
	m := s.conn.m
	var ev int16
	if m.Err() != nil {
		ev |= unix.POLLERR
	}
	st := m.State()
	if m.Readable() > 0 || m.ReadClosed() || m.Err() != nil {
		ev |= unix.POLLIN
	}
	if m.ReadClosed() {
		ev |= unix.POLLRDHUP
	}
	switch st {
	case tcpstate.Established, tcpstate.CloseWait:
		if m.WriteSpace() > 0 {
			ev |= unix.POLLOUT
		}
	case tcpstate.Closed:
		ev |= unix.POLLHUP | unix.POLLOUT
	}
	return ev
}

// readiness handles poll and epoll, level-triggered, answered at once (a timeout is
// not waited out).
func (u *userStack) readiness(c *Syscall) (int64, error, string, bool) {
	a := c.Args
	switch c.Name {
	case "poll":
		return u.poll(c)
	case "epoll_create":
		return u.newFD(c, &usock{epoll: map[int64]uint32{}}), nil, "", false
	}
	ep, _ := u.sock(a[0])
	if ep.epoll == nil {
		return 0, syscall.EINVAL, "", false
	}
	if c.Name == "epoll_ctl" {
		op, _ := intOf(a[1])
		fd, _ := intOf(a[2])
		evs, _ := intOf(orZero(field(a[3], "events")))
		if op == unix.EPOLL_CTL_DEL {
			delete(ep.epoll, fd)
		} else {
			ep.epoll[fd] = uint32(evs)
		}
		return 0, nil, "", false
	}
	for fd, want := range ep.epoll {
		got := uint32(u.revents(u.socks[fd])) & (want | unix.EPOLLERR | unix.EPOLLHUP)
		if got == 0 {
			continue
		}
		if w := field(a[1], "events"); w != nil && w.Kind != ExprEllipsis {
			if wv, _ := intOf(w); uint32(wv) != got {
				return 1, nil, fmt.Sprintf("Bad epoll_wait events: expected: %#x actual: %#x", wv, got), false
			}
		}
		return 1, nil, "", false
	}
	return 0, nil, "", false
}

func (u *userStack) poll(c *Syscall) (int64, error, string, bool) {
	list := c.Args[0]
	if list.Kind != ExprList {
		return 0, fmt.Errorf("%v: poll takes [{fd=N, events=…, revents=…}, …]", list.Pos), "", false
	}
	n := int64(0)
	for _, e := range list.Elems {
		fd, _ := intOf(orZero(field(e, "fd")))
		want, _ := intOf(orZero(field(e, "events")))
		got := u.revents(u.socks[fd]) & (int16(want) | unix.POLLERR | unix.POLLHUP | unix.POLLNVAL)
		if got != 0 {
			n++
		}
		if w := field(e, "revents"); w != nil && w.Kind != ExprEllipsis {
			if wv, _ := intOf(w); int16(wv) != got {
				return n, nil, fmt.Sprintf("Bad poll revents: expected: %#x actual: %#x", wv, got), false
			}
		}
	}
	return n, nil, "", false
}
