package drill

import (
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/tcpstate"
)

// errBlock is what an operation returns when it would block: EAGAIN on a
// non-blocking socket, a wait on a blocking one.
func (u *userStack) block(s *usock, flags int64) (int64, error, string, bool) {
	if s.nonblock || flags&unix.MSG_DONTWAIT != 0 {
		return 0, syscall.EAGAIN, "", false
	}
	return 0, nil, "", true
}

func (u *userStack) sock(e *Expr) (*usock, int64) {
	n, err := intOf(e)
	if err != nil {
		return nil, -1
	}
	return u.socks[n], n
}

func (u *userStack) newFD(c *Syscall, s *usock) int64 {
	n := int64(3)
	if c.Ret.Kind == ExprInt && c.Ret.Int >= 0 {
		n = c.Ret.Int
	}
	for c.Ret.Kind != ExprInt && u.socks[n] != nil {
		n++
	}
	u.socks[n] = s
	return n
}

func (u *userStack) dispatch(c *Syscall) (int64, error, string, bool) {
	a := c.Args
	if c.Name != "socket" && c.Name != "poll" && c.Name != "epoll_create" {
		if s, _ := u.sock(a[0]); s == nil {
			return 0, syscall.EBADF, "", false
		}
	}
	for _, h := range userCalls {
		if slices.Contains(h.names, c.Name) {
			return h.fn(u, c)
		}
	}
	return 0, fmt.Errorf("call %s is not supported by the userspace stack", c.Name), "", false
}

// userCalls maps each call onto its handler.
var userCalls = []struct {
	names []string
	fn    func(*userStack, *Syscall) (int64, error, string, bool)
}{
	{[]string{"socket"}, (*userStack).socket},
	{[]string{"bind", "listen", "connect"}, (*userStack).open},
	{[]string{"accept", "accept4"}, (*userStack).accept},
	{[]string{"read", "recv", "recvfrom", "recvmsg"}, (*userStack).read},
	{[]string{"write", "send", "sendto", "sendmsg"}, (*userStack).write},
	{[]string{"close", "shutdown"}, (*userStack).closeCall},
	{[]string{"fcntl", "setsockopt", "getsockopt", "ioctl"}, (*userStack).control},
	{[]string{"poll", "epoll_create", "epoll_ctl", "epoll_wait"}, (*userStack).readiness},
}

func (u *userStack) socket(c *Syscall) (int64, error, string, bool) {
	typ, err := intOf(c.Args[1])
	if err != nil {
		return 0, err, "", false
	}
	s := &usock{typ: int(typ &^ (unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC)), nonblock: typ&unix.SOCK_NONBLOCK != 0}
	if s.typ != unix.SOCK_STREAM && s.typ != unix.SOCK_DGRAM {
		return 0, syscall.EPROTONOSUPPORT, "", false
	}
	u.flow.reset(u.nc)
	n := u.newFD(c, s)
	u.cur = n
	return n, nil, "", false
}

// port reads the port of a bind or connect address (... is the bind port).
func (u *userStack) port(e *Expr) (uint16, error) {
	if e.Kind == ExprEllipsis {
		return u.nc.bindPort, nil
	}
	p := field(e, "sin_port")
	if p == nil {
		p = field(e, "sin6_port")
	}
	if p == nil {
		return 0, fmt.Errorf("%v: only ... or {sin_port=htons(N), …} addresses are supported", e.Pos)
	}
	v, err := intOf(p)
	return uint16(v), err
}

func (u *userStack) open(c *Syscall) (int64, error, string, bool) {
	s, n := u.sock(c.Args[0])
	switch c.Name {
	case "bind":
		port, err := u.port(c.Args[1])
		if err != nil {
			return 0, err, "", false
		}
		if s.bound {
			return 0, syscall.EINVAL, "", false
		}
		s.local, s.bound = netip.AddrPortFrom(u.nc.local, port), true
		u.flow.local = s.local
		u.flow.bind()
		return 0, nil, "", false
	case "listen":
		if s.typ != unix.SOCK_STREAM {
			return 0, syscall.EOPNOTSUPP, "", false
		}
		if !s.bound {
			s.local, s.bound = netip.AddrPortFrom(u.nc.local, u.ephemeral()), true
		}
		s.listening = true
		return 0, nil, "", false
	}
	u.cur = n
	return u.connect(c, s)
}

func (u *userStack) ephemeral() uint16 {
	u.nextEph++
	return u.nextEph
}

func (u *userStack) connect(c *Syscall, s *usock) (int64, error, string, bool) {
	port, err := u.port(c.Args[1])
	if err != nil {
		return 0, err, "", false
	}
	remote := netip.AddrPortFrom(u.nc.remote, port)
	u.flow.connect(u.nc, port)
	if !s.bound {
		s.local, s.bound = netip.AddrPortFrom(u.nc.local, u.ephemeral()), true
	}
	if s.typ == unix.SOCK_DGRAM {
		s.udpRemote = remote
		return 0, nil, "", false
	}
	if s.conn != nil {
		if s.connecting { // a blocking connect, retried
			return u.connectWait(s)
		}
		return u.connectDone(s)
	}
	cfg := u.cfg
	cfg.NoDelay = s.noDelay
	s.conn = &uconn{m: tcpstate.New(&cfg, s.local, remote, u.clock())}
	u.conns = append(u.conns, s.conn)
	out, err := s.conn.m.Connect(u.clock())
	if err != nil {
		return 0, err, "", false
	}
	u.apply(s.conn, out)
	s.reportErr = true
	if s.nonblock {
		return 0, syscall.EINPROGRESS, "", false
	}
	s.connecting = true
	return u.connectWait(s)
}

func (u *userStack) connectWait(s *usock) (int64, error, string, bool) {
	m := s.conn.m
	switch {
	case m.Err() != nil:
		s.connecting, s.reportErr = false, false
		return 0, m.Err(), "", false
	case m.State() == tcpstate.SynSent || m.State() == tcpstate.SynReceived:
		return 0, nil, "", true
	}
	s.connecting = false
	return 0, nil, "", false
}

// connectDone is a blocking connect's end: ESTABLISHED, or the connection's error.
func (u *userStack) connectDone(s *usock) (int64, error, string, bool) {
	m := s.conn.m
	switch {
	case m.Err() != nil:
		s.reportErr = false
		return 0, m.Err(), "", false
	case m.State() == tcpstate.SynSent || m.State() == tcpstate.SynReceived:
		if s.nonblock {
			return 0, syscall.EALREADY, "", false
		}
		return 0, nil, "", true
	case m.State() == tcpstate.Established:
		return 0, syscall.EISCONN, "", false
	}
	return 0, nil, "", false
}
