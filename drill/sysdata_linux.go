package drill

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// payloadOf is what a write sends: the string argument, or zeros as in packetdrill.
func payloadOf(buf *Expr, n int) []byte {
	p := make([]byte, n)
	if buf.Kind == ExprString {
		copy(p, buf.Str)
	}
	return p
}

func (k *kernelStack) data(c *Syscall) (int64, error, string) {
	a := c.Args
	fd := k.liveFD(a[0])
	flags := int64(0)
	switch c.Name {
	case "send", "recv", "sendto", "recvfrom":
		var err error
		if flags, err = intOf(a[3]); err != nil {
			return 0, err, ""
		}
	case "sendmsg", "recvmsg":
		var err error
		if flags, err = intOf(a[2]); err != nil {
			return 0, err, ""
		}
	}
	var n int
	var err error
	if c.Name == "sendmsg" || c.Name == "recvmsg" {
		n, err = iovLength(a[1])
	} else {
		n, err = lengthArg(a[2])
	}
	if err != nil {
		return 0, err, ""
	}
	switch c.Name {
	case "read":
		got, err := unix.Read(fd, make([]byte, n))
		return int64(got), err, ""
	case "recv", "recvfrom", "recvmsg":
		got, _, _, _, err := unix.Recvmsg(fd, make([]byte, n), nil, int(flags))
		return int64(got), err, ""
	case "write":
		got, err := unix.Write(fd, payloadOf(a[1], n))
		return int64(got), err, ""
	}
	got, err := unix.SendmsgN(fd, payloadOf(a[1], n), nil, nil, int(flags)|unix.MSG_NOSIGNAL)
	return int64(got), err, ""
}

func (k *kernelStack) fcntl(c *Syscall) (int64, error, string) {
	a := c.Args
	cmd, err := intOf(a[1])
	if err != nil {
		return 0, err, ""
	}
	arg := int64(0)
	if len(a) == 3 {
		if arg, err = intOf(a[2]); err != nil {
			return 0, err, ""
		}
	}
	if cmd != unix.F_GETFL && cmd != unix.F_SETFL {
		return 0, fmt.Errorf("fcntl: only F_GETFL and F_SETFL are supported"), ""
	}
	v, err := unix.FcntlInt(uintptr(k.liveFD(a[0])), int(cmd), int(arg))
	return int64(v), err, ""
}

// sockoptTarget reads a set/getsockopt call's socket, level and option name.
func (k *kernelStack) sockoptTarget(a []*Expr) (fd int, level, opt int64, err error) {
	fd = k.liveFD(a[0])
	if level, err = intOf(a[1]); err != nil {
		return 0, 0, 0, err
	}
	opt, err = intOf(a[2])
	return fd, level, opt, err
}

func (k *kernelStack) setsockopt(c *Syscall) (int64, error, string) {
	a := c.Args
	fd, level, opt, err := k.sockoptTarget(a)
	if err != nil {
		return 0, err, ""
	}
	v := a[3]
	switch {
	case v.Kind == ExprString:
		// TCP_CONGESTION: per socket, so a script can have cubic although the node
		// inherits bbr and cubic is not in net.ipv4.tcp_allowed_congestion_control
		// (per socket, an algorithm outside that list needs CAP_NET_ADMIN, which the
		// run has; without it the kernel says EPERM).
		return 0, unix.SetsockoptString(fd, int(level), int(opt), v.Str), ""
	case v.Kind == ExprStruct && field(v, "onoff") != nil:
		on, _ := intOf(field(v, "onoff"))
		sec, _ := intOf(field(v, "linger"))
		return 0, unix.SetsockoptLinger(fd, int(level), int(opt), &unix.Linger{Onoff: int32(on), Linger: int32(sec)}), ""
	}
	n, err := intOf(v)
	if err != nil {
		return 0, err, ""
	}
	return 0, unix.SetsockoptInt(fd, int(level), int(opt), int(n)), ""
}

func (k *kernelStack) getsockopt(c *Syscall) (int64, error, string) {
	a := c.Args
	fd, level, opt, err := k.sockoptTarget(a)
	if err != nil {
		return 0, err, ""
	}
	want := a[3]
	if want.Kind == ExprString || (level == unix.IPPROTO_TCP && opt == unix.TCP_CONGESTION) {
		got, err := unix.GetsockoptString(fd, int(level), int(opt))
		if err == nil && want.Kind == ExprString && got != want.Str {
			return 0, nil, fmt.Sprintf("Bad getsockopt optval: expected: %q actual: %q", want.Str, got)
		}
		return 0, err, ""
	}
	got, err := unix.GetsockoptInt(fd, int(level), int(opt))
	if err != nil || want.Kind == ExprEllipsis {
		return 0, err, ""
	}
	if w, werr := intOf(want); werr == nil && int64(got) != w {
		return 0, nil, fmt.Sprintf("Bad getsockopt optval: expected: %d actual: %d", w, got)
	}
	return 0, nil, ""
}

func (k *kernelStack) ioctl(c *Syscall) (int64, error, string) {
	a := c.Args
	req, err := intOf(a[1])
	if err != nil {
		return 0, err, ""
	}
	got, err := unix.IoctlGetInt(k.liveFD(a[0]), uint(req))
	if err != nil || a[2].Kind == ExprEllipsis {
		return 0, err, ""
	}
	if w, werr := intOf(a[2]); werr == nil && int64(got) != w {
		return 0, nil, fmt.Sprintf("Bad ioctl value: expected: %d actual: %d", w, got)
	}
	return 0, nil, ""
}

func (k *kernelStack) poll(c *Syscall) (int64, error, string) {
	a := c.Args
	if a[0].Kind != ExprList {
		return 0, fmt.Errorf("%v: poll takes [{fd=N, events=…, revents=…}, …]", a[0].Pos), ""
	}
	fds := make([]unix.PollFd, len(a[0].Elems))
	for i, e := range a[0].Elems {
		fd, ev := field(e, "fd"), field(e, "events")
		if fd == nil || ev == nil {
			return 0, fmt.Errorf("%v: pollfd needs fd= and events=", e.Pos), ""
		}
		evs, _ := intOf(ev)
		fds[i] = unix.PollFd{Fd: int32(k.liveFD(fd)), Events: int16(evs)}
	}
	timeout, err := intOf(a[2])
	if err != nil {
		return 0, err, ""
	}
	n, err := unix.Poll(fds, capTimeout(timeout))
	if err != nil {
		return 0, err, ""
	}
	for i, e := range a[0].Elems {
		if w := field(e, "revents"); w != nil && w.Kind != ExprEllipsis {
			wv, _ := intOf(w)
			if int16(wv) != fds[i].Revents {
				return int64(n), nil, fmt.Sprintf("Bad poll revents: expected: %#x actual: %#x", wv, fds[i].Revents)
			}
		}
	}
	return int64(n), nil, ""
}

func (k *kernelStack) epoll(c *Syscall) (int64, error, string) {
	a := c.Args
	switch c.Name {
	case "epoll_create":
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return 0, err, ""
		}
		return k.newFD(c, fd, false), nil, ""
	case "epoll_ctl":
		op, err := intOf(a[1])
		if err != nil {
			return 0, err, ""
		}
		evs, _ := intOf(orZero(field(a[3], "events")))
		sfd, _ := intOf(a[2])
		ev := &unix.EpollEvent{Events: uint32(evs), Fd: int32(sfd)}
		return 0, unix.EpollCtl(k.liveFD(a[0]), int(op), k.liveFD(a[2]), ev), ""
	}
	max, err := intOf(a[2])
	if err != nil || max < 1 || max > maxArgs {
		return 0, fmt.Errorf("%v: epoll_wait maxevents must be 1 to %d", a[2].Pos, maxArgs), ""
	}
	timeout, err := intOf(a[3])
	if err != nil {
		return 0, err, ""
	}
	evs := make([]unix.EpollEvent, max)
	n, err := unix.EpollWait(k.liveFD(a[0]), evs, capTimeout(timeout))
	if err != nil || n == 0 {
		return int64(n), err, ""
	}
	if w := field(a[1], "events"); w != nil && w.Kind != ExprEllipsis {
		wv, _ := intOf(w)
		if uint32(wv) != evs[0].Events {
			return int64(n), nil, fmt.Sprintf("Bad epoll_wait events: expected: %#x actual: %#x", wv, evs[0].Events)
		}
	}
	return int64(n), nil, ""
}

// maxPollWait bounds poll's and epoll_wait's timeout (an infinite one included): the
// runner reports a call still blocked 2 s after its time anyway, and closing the
// sockets at the end wakes no poll, so its goroutine would outlive the run.
const maxPollWait = 10 * 1000

func capTimeout(ms int64) int {
	if ms < 0 || ms > maxPollWait {
		return maxPollWait
	}
	return int(ms)
}

func orZero(e *Expr) *Expr {
	if e == nil {
		return &Expr{Kind: ExprInt}
	}
	return e
}
