package agent

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Op names a socket operation the agent performs.
type Op string

// Operations, named after the system call (or socket option) they make.
const (
	OpSocket     Op = "socket"
	OpBind       Op = "bind"
	OpListen     Op = "listen"
	OpConnect    Op = "connect"
	OpAccept     Op = "accept"
	OpSend       Op = "send"
	OpRecv       Op = "recv"
	OpShutdown   Op = "shutdown"
	OpClose      Op = "close"
	OpSetsockopt Op = "setsockopt"
	OpGetsockopt Op = "getsockopt"
	OpEpollWait  Op = "epoll_wait"
)

func (o Op) String() string { return string(o) }

// Call is the record of one system call the agent made.
type Call struct {
	Start time.Time     // when the call was entered
	Dur   time.Duration // how long it took, including emulated blocking
	Node  string        // lab node the socket lives in
	Sock  string        // the experiment's name for the socket
	Op    Op
	Args  string     // the arguments, as a reader would write them ("198.18.1.2:80")
	Ret   int        // the return value: bytes, a descriptor, 0 or -1
	Errno unix.Errno // 0 on success
	Data  []byte     // bytes received (recv) or sent (send)
	Info  string     // extra result: local address, epoll events, SO_ERROR name
	Timed bool       // the call was still blocked when its timeout expired
}

// ErrnoName is the errno's symbolic name ("ECONNREFUSED"), or "" on success.
func (c Call) ErrnoName() string {
	if c.Errno == 0 {
		return ""
	}
	if n := unix.ErrnoName(c.Errno); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", int(c.Errno))
}

// OK reports whether the call succeeded (no errno, not timed out).
func (c Call) OK() bool { return c.Errno == 0 && !c.Timed }

// String renders the call like strace: `client c connect(198.18.1.2:80) = -1 ECONNREFUSED`.
func (c Call) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s(%s) = %d", c.Node, c.Sock, c.Op, c.Args, c.Ret)
	if c.Errno != 0 {
		fmt.Fprintf(&b, " %s (%s)", c.ErrnoName(), c.Errno.Error())
	}
	if c.Timed {
		b.WriteString(" (still blocked at timeout)")
	}
	if c.Info != "" {
		fmt.Fprintf(&b, " [%s]", c.Info)
	}
	if len(c.Data) > 0 && c.Op == OpRecv {
		fmt.Fprintf(&b, " %q", abbreviate(c.Data, 40))
	}
	if c.Dur >= time.Millisecond {
		fmt.Fprintf(&b, " <%s>", c.Dur.Round(time.Millisecond))
	}
	return b.String()
}

func abbreviate(p []byte, n int) string {
	if len(p) <= n {
		return string(p)
	}
	return string(p[:n]) + fmt.Sprintf("…(%d bytes)", len(p))
}
