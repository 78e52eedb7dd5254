package agent

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/pktlab/pktlab/internal/enumname"
	"golang.org/x/sys/unix"
)

// Bind binds the socket to addr (bind(2)).
func (a *Agent) Bind(name string, addr netip.AddrPort) (Call, error) {
	s, err := a.lookup(name)
	if err != nil {
		return Call{}, err
	}
	c := a.begin(name, OpBind, addr.String())
	err = unix.Bind(s.fd, sockaddr(s, addr))
	if err == nil {
		if la, lerr := a.LocalAddr(name); lerr == nil {
			c.Info = "local " + la.String()
		}
	}
	return a.finish(c, err), nil
}

// Listen marks the socket passive with the given backlog (listen(2)).
func (a *Agent) Listen(name string, backlog int) (Call, error) {
	s, err := a.lookup(name)
	if err != nil {
		return Call{}, err
	}
	c := a.begin(name, OpListen, fmt.Sprintf("backlog %d", backlog))
	return a.finish(c, unix.Listen(s.fd, backlog)), nil
}

// Connect connects the socket to addr (connect(2)). With nonblock the call returns at
// once, as connect on an O_NONBLOCK socket does (EINPROGRESS for TCP). Otherwise it
// behaves as a blocking connect: it waits until the socket is writable and reports the
// pending SO_ERROR (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH…) as the call's errno; when ctx
// ends first the call is recorded as still blocked and ctx's error is returned.
func (a *Agent) Connect(ctx context.Context, name string, addr netip.AddrPort, nonblock bool) (Call, error) {
	s, err := a.lookup(name)
	if err != nil {
		return Call{}, err
	}
	args := addr.String()
	if nonblock {
		args += ", O_NONBLOCK"
	}
	c := a.begin(name, OpConnect, args)
	err = unix.Connect(s.fd, sockaddr(s, addr))
	if err == unix.EINPROGRESS && !nonblock {
		if _, werr := waitFD(ctx, s.fd, unix.POLLOUT); werr != nil {
			c.Timed = true
			a.finish(c, nil)
			return c, fmt.Errorf("agent: connect %s %s to %s: %w", a.cfg.Node, name, addr, werr)
		}
		soerr, gerr := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case gerr != nil:
			err = gerr
		case soerr != 0:
			err = unix.Errno(soerr)
		default:
			err = nil
		}
	}
	if err == nil || err == unix.EINPROGRESS {
		if la, lerr := a.LocalAddr(name); lerr == nil {
			c.Info = "local " + la.String()
		}
	}
	return a.finish(c, err), nil
}

// Accept takes one connection from listener and names the new socket name (accept4(2)),
// waiting for one unless ctx ends first.
func (a *Agent) Accept(ctx context.Context, listener, name string) (Call, error) {
	s, err := a.lookup(listener)
	if err != nil {
		return Call{}, err
	}
	c := a.begin(listener, OpAccept, "→ "+name)
	for {
		nfd, sa, err := unix.Accept4(s.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err == unix.EAGAIN {
			if _, werr := waitFD(ctx, s.fd, unix.POLLIN); werr != nil {
				c.Timed = true
				a.finish(c, nil)
				return c, fmt.Errorf("agent: accept on %s %s: %w", a.cfg.Node, listener, werr)
			}
			continue
		}
		if err == nil {
			c.Ret = nfd
			c.Info = "peer " + addrPort(sa).String()
			a.mu.Lock()
			a.socks[name] = &socket{fd: nfd, kind: s.kind, family: s.family, epfd: -1}
			a.mu.Unlock()
		}
		return a.finish(c, err), nil
	}
}

// Send writes data (send(2) with MSG_NOSIGNAL, so a closed peer gives EPIPE rather than
// SIGPIPE). A non-nil to sends one datagram with sendto(2). Unless nonblock, it behaves as
// a blocking send: it keeps writing until all of data is queued; if ctx ends first the
// call is recorded as still blocked, with Ret the bytes queued so far.
func (a *Agent) Send(ctx context.Context, name string, data []byte, to *netip.AddrPort, nonblock bool) (Call, error) {
	return a.SendFlags(ctx, name, data, to, nonblock, 0)
}

// SendFlags is Send with extra send(2) flags, such as MSG_OOB for urgent data.
func (a *Agent) SendFlags(ctx context.Context, name string, data []byte, to *netip.AddrPort, nonblock bool, flags int) (Call, error) {
	s, err := a.lookup(name)
	if err != nil {
		return Call{}, err
	}
	args := fmt.Sprintf("%d bytes", len(data))
	if to != nil {
		args += " to " + to.String()
	}
	if flags != 0 {
		args += ", " + FlagString(flags)
	}
	flags |= unix.MSG_NOSIGNAL
	c := a.begin(name, OpSend, args)
	sent := 0
	for {
		var n int
		if to != nil {
			err = unix.Sendto(s.fd, data[sent:], flags, sockaddr(s, *to))
			n = len(data) - sent
		} else {
			n, err = unix.SendmsgN(s.fd, data[sent:], nil, nil, flags)
		}
		if err == nil {
			sent += n
			if sent >= len(data) || s.kind == UDP {
				break
			}
			continue
		}
		if err == unix.EAGAIN && !nonblock {
			if _, werr := waitFD(ctx, s.fd, unix.POLLOUT); werr != nil {
				c.Timed, c.Ret = true, sent
				a.finish(c, nil)
				return c, nil
			}
			continue
		}
		break
	}
	c.Ret = sent
	c.Data = data
	if err != nil && sent > 0 {
		c.Info = fmt.Sprintf("%d bytes queued before the error", sent)
	}
	return a.finish(c, err), nil
}

// Recv reads up to max bytes (recvfrom(2)). Unless nonblock it waits for data, EOF or an
// error until ctx ends; a wait that times out is recorded as still blocked and is not an
// error (the experiment asserts on it).
func (a *Agent) Recv(ctx context.Context, name string, max int, nonblock bool) (Call, error) {
	return a.RecvFlags(ctx, name, max, nonblock, 0)
}

// RecvFlags is Recv with recv(2) flags: MSG_WAITALL waits for all max bytes (or EOF or
// an error), MSG_PEEK leaves the data queued, MSG_OOB reads urgent data.
func (a *Agent) RecvFlags(ctx context.Context, name string, max int, nonblock bool, flags int) (Call, error) {
	s, err := a.lookup(name)
	if err != nil {
		return Call{}, err
	}
	args := fmt.Sprintf("max %d", max)
	if flags != 0 {
		args += ", " + FlagString(flags)
	}
	c := a.begin(name, OpRecv, args)
	buf := make([]byte, max)
	got := 0
	for {
		// The socket is O_NONBLOCK, so MSG_WAITALL is emulated: keep reading until
		// max bytes, EOF or an error.
		n, from, err := unix.Recvfrom(s.fd, buf[got:], flags&^unix.MSG_WAITALL)
		if err == nil && flags&unix.MSG_WAITALL != 0 && n > 0 && got+n < max {
			got += n
			continue
		}
		if err == unix.EAGAIN && got > 0 && nonblock {
			n, err = 0, nil
		}
		if err == nil {
			n += got
		}
		if err == unix.EAGAIN && !nonblock {
			ev := int16(unix.POLLIN)
			if flags&unix.MSG_OOB != 0 {
				ev = unix.POLLPRI
			}
			if _, werr := waitFD(ctx, s.fd, ev); werr != nil {
				c.Timed, c.Ret, c.Data = true, got, buf[:got]
				return a.finish(c, nil), nil
			}
			continue
		}
		if err == nil {
			c.Ret = n
			c.Data = buf[:n]
			if n == 0 && s.kind == TCP {
				c.Info = "EOF"
			}
			if from != nil && s.kind == UDP {
				c.Info = "from " + addrPort(from).String()
			}
		}
		return a.finish(c, err), nil
	}
}

// How is shutdown(2)'s second argument.
type How int

// Shutdown directions.
const (
	ShutRD   How = unix.SHUT_RD
	ShutWR   How = unix.SHUT_WR
	ShutRDWR How = unix.SHUT_RDWR
)

var howNames = [...]string{ShutRD: "SHUT_RD", ShutWR: "SHUT_WR", ShutRDWR: "SHUT_RDWR"}

func (h How) String() string { return enumname.Name(h, howNames[:], "How(%d)") }

// Shutdown shuts down part of a full-duplex connection (shutdown(2)).
func (a *Agent) Shutdown(name string, how How) (Call, error) {
	s, err := a.lookup(name)
	if err != nil {
		return Call{}, err
	}
	c := a.begin(name, OpShutdown, how.String())
	return a.finish(c, unix.Shutdown(s.fd, int(how))), nil
}

// CloseSocket closes the socket (close(2)) and forgets its name.
func (a *Agent) CloseSocket(name string) (Call, error) {
	s, err := a.lookup(name)
	if err != nil {
		return Call{}, err
	}
	a.mu.Lock()
	delete(a.socks, name)
	a.mu.Unlock()
	if s.epfd >= 0 {
		unix.Close(s.epfd)
	}
	c := a.begin(name, OpClose, "")
	return a.finish(c, unix.Close(s.fd)), nil
}

// SocketError reads and clears the pending error (getsockopt SO_ERROR); the pending
// error's name is the call's Info ("ECONNREFUSED", or "0").
func (a *Agent) SocketError(name string) (Call, error) {
	s, err := a.lookup(name)
	if err != nil {
		return Call{}, err
	}
	c := a.begin(name, OpGetsockopt, "SO_ERROR")
	v, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil {
		c.Ret = v
		c.Info = "0"
		if v != 0 {
			c.Info = unix.ErrnoName(unix.Errno(v))
		}
	}
	return a.finish(c, err), nil
}

var msgFlags = []struct {
	bit  int
	name string
}{{unix.MSG_OOB, "MSG_OOB"}, {unix.MSG_PEEK, "MSG_PEEK"}, {unix.MSG_WAITALL, "MSG_WAITALL"}, {unix.MSG_DONTWAIT, "MSG_DONTWAIT"}, {unix.MSG_MORE, "MSG_MORE"}}

// FlagString names send/recv flags ("MSG_OOB|MSG_PEEK").
func FlagString(flags int) string {
	var out []string
	for _, f := range msgFlags {
		if flags&f.bit != 0 {
			out = append(out, f.name)
		}
	}
	if len(out) == 0 {
		return fmt.Sprintf("flags %#x", flags)
	}
	return strings.Join(out, "|")
}

// ParseFlag returns the flag for "oob", "peek", "waitall", "more" or "MSG_OOB"….
func ParseFlag(s string) (int, bool) {
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "MSG_") {
		u = "MSG_" + u
	}
	for _, f := range msgFlags {
		if f.name == u {
			return f.bit, true
		}
	}
	return 0, false
}
