package drill

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// call makes a socket call in the node. Sockets are created on a thread inside the
// node's namespace (testlab's Node.Do) and stay there; every other call acts on their
// descriptors from any thread. Sockets are blocking unless the script makes them
// non-blocking, as in packetdrill: a blocking call blocks its goroutine.
func (k *kernelStack) call(ctx context.Context, c *Syscall) <-chan callResult {
	done, tid := onOwnThread(func() callResult { return k.callNow(c) })
	if c.EndSet {
		awaitBlocked(tid, done)
	}
	return done
}

// onOwnThread runs fn in a goroutine locked to its thread and returns the channel of
// its result and the thread's id.
func onOwnThread(fn func() callResult) (chan callResult, int) {
	done := make(chan callResult, 1)
	tid := make(chan int, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		done <- fn()
	}()
	return done, <-tid
}

// awaitBlocked waits, as packetdrill does before its next event, until the thread of
// a blocking call sleeps in that call (or the call is done), so that a packet
// injected next cannot overtake the call's entry into the kernel. A thread asleep
// in futex is the Go runtime parking it, not the call. Bounded: a call that never
// gets there is the script's timing problem, reported at its end time.
// It returns what it saw: "blocked", "done", or "gave up".
func awaitBlocked(tid int, done chan callResult) string {
	path := fmt.Sprintf("/proc/self/task/%d/syscall", tid)
	for start := time.Now(); time.Since(start) < time.Second; time.Sleep(100 * time.Microsecond) {
		if len(done) > 0 {
			return "done"
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "gave up"
		}
		f := strings.Fields(string(b))
		if len(f) == 0 || f[0] == "running" {
			continue
		}
		if nr, err := strconv.Atoi(f[0]); err == nil && nr != unix.SYS_FUTEX && nr >= 0 {
			return "blocked"
		}
	}
	return "gave up"
}

func (k *kernelStack) callNow(c *Syscall) callResult {
	ret, err, bad := k.dispatch(c)
	res := callResult{ret: ret, end: k.now(), bad: bad}
	if err != nil {
		if e, ok := err.(unix.Errno); ok {
			res.ret, res.errno = -1, errnoName(e)
		} else {
			res.fatal = err
		}
	}
	return res
}

// liveFD maps a script fd to the live one; an unknown fd maps to -1 (EBADF).
func (k *kernelStack) liveFD(e *Expr) int {
	n, err := intOf(e)
	if err != nil {
		return -1
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if fd, ok := k.fds[n]; ok {
		return fd
	}
	return -1
}

// newFD records a live fd under the script fd the call is expected to return (or the
// next free one from 3 for "= ...").
func (k *kernelStack) newFD(c *Syscall, live int, current bool) int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := int64(3)
	if c.Ret.Kind == ExprInt && c.Ret.Int >= 0 {
		n = c.Ret.Int
	}
	for c.Ret.Kind != ExprInt && k.fds[n] != 0 {
		n++
	}
	if old, ok := k.fds[n]; ok && old != live {
		// The script reuses a number it did not close: keep the new socket under it.
		unix.Close(old)
	}
	k.fds[n] = live
	if current {
		k.cur = n
	}
	return n
}

func (k *kernelStack) sockaddr(e *Expr, remote bool) (unix.Sockaddr, error) {
	a, port := k.nc.sockLocal, k.nc.bindPort
	if remote {
		a = k.nc.sockRemote
	}
	if e.Kind != ExprEllipsis {
		p := field(e, "sin_port")
		if p == nil {
			p = field(e, "sin6_port")
		}
		if p == nil {
			return nil, fmt.Errorf("%v: only ... or {sin_port=htons(N), …} addresses are supported", e.Pos)
		}
		v, err := intOf(p)
		if err != nil {
			return nil, err
		}
		port = uint16(v)
	}
	return toSockaddr(netip.AddrPortFrom(a, port), k.nc.family), nil
}

func toSockaddr(ap netip.AddrPort, family int) unix.Sockaddr {
	if family == unix.AF_INET {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

func (k *kernelStack) dispatch(c *Syscall) (int64, error, string) {
	a := c.Args
	switch c.Name {
	case "socket", "bind", "listen", "accept", "accept4", "connect", "close", "shutdown":
		return k.lifecycle(c)
	case "read", "recv", "recvfrom", "recvmsg", "write", "send", "sendto", "sendmsg":
		return k.data(c)
	case "fcntl":
		return k.fcntl(c)
	case "setsockopt":
		return k.setsockopt(c)
	case "getsockopt":
		return k.getsockopt(c)
	case "ioctl":
		return k.ioctl(c)
	case "poll":
		return k.poll(c)
	case "epoll_create", "epoll_ctl", "epoll_wait":
		return k.epoll(c)
	}
	return 0, fmt.Errorf("call %s with %d arguments is not supported", c.Name, len(a)), ""
}

func (k *kernelStack) lifecycle(c *Syscall) (int64, error, string) {
	a := c.Args
	switch c.Name {
	case "socket":
		return k.socket(c)
	case "bind":
		sa, err := k.sockaddr(a[1], false)
		if err != nil {
			return 0, err, ""
		}
		err = unix.Bind(k.liveFD(a[0]), sa)
		if err == nil {
			k.flow.local = netip.AddrPortFrom(k.flow.local.Addr(), uint16(sockPort(sa)))
			k.flow.bind()
		}
		return 0, err, ""
	case "listen":
		n, err := intOf(a[1])
		if err != nil {
			return 0, err, ""
		}
		return 0, unix.Listen(k.liveFD(a[0]), int(n)), ""
	case "accept", "accept4":
		flags := int64(0)
		if len(a) == 4 {
			var err error
			if flags, err = intOf(a[3]); err != nil {
				return 0, err, ""
			}
		}
		fd, _, err := unix.Accept4(k.liveFD(a[0]), int(flags)|unix.SOCK_CLOEXEC)
		if err != nil {
			return 0, err, ""
		}
		return k.newFD(c, fd, true), nil, ""
	case "connect":
		sa, err := k.sockaddr(a[1], true)
		if err != nil {
			return 0, err, ""
		}
		k.flow.connect(k.nc, uint16(sockPort(sa)))
		k.mu.Lock()
		k.cur, _ = intOf(a[0])
		k.mu.Unlock()
		return 0, unix.Connect(k.liveFD(a[0]), sa), ""
	case "shutdown":
		how, err := intOf(a[1])
		if err != nil {
			return 0, err, ""
		}
		return 0, unix.Shutdown(k.liveFD(a[0]), int(how)), ""
	}
	fd := k.liveFD(a[0])
	err := unix.Close(fd)
	if err == nil {
		n, _ := intOf(a[0])
		k.mu.Lock()
		delete(k.fds, n)
		k.mu.Unlock()
	}
	return 0, err, ""
}

func sockPort(sa unix.Sockaddr) int {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return s.Port
	case *unix.SockaddrInet6:
		return s.Port
	}
	return 0
}

func (k *kernelStack) socket(c *Syscall) (int64, error, string) {
	a := c.Args
	domain := int64(k.nc.family)
	if a[0].Kind != ExprEllipsis {
		var err error
		if domain, err = intOf(a[0]); err != nil {
			return 0, err, ""
		}
	}
	typ, err := intOf(a[1])
	if err != nil {
		return 0, err, ""
	}
	proto, err := intOf(a[2])
	if err != nil {
		return 0, err, ""
	}
	var fd int
	var serr error
	if err := k.node.Do(func() error {
		fd, serr = unix.Socket(int(domain), int(typ)|unix.SOCK_CLOEXEC, int(proto))
		return nil
	}); err != nil {
		return 0, err, ""
	}
	if serr != nil {
		return 0, serr, ""
	}
	k.flow.reset(k.nc)
	return k.newFD(c, fd, true), nil, ""
}

func getsockoptBytes(fd, level, opt int, buf []byte) (int, error) {
	l := uint32(len(buf))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, e
	}
	return int(l), nil
}
