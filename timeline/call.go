package timeline

import (
	"fmt"
	"strings"
	"syscall"
	"time"
)

// Op names a socket operation (package agent defines the ones it performs; an
// experiment's userspace TCP and exec steps add their own).
type Op string

func (o Op) String() string { return string(o) }

// opRecv is the operation whose received bytes a call's text quotes.
const opRecv Op = "recv"

// Call is the record of one system call (or userspace TCP action, or program run)
// an experiment made. It lives here, not in package agent, so that the timeline and
// its readers need no system-call package (see docs/architecture.md).
type Call struct {
	Start time.Time     // when the call was entered
	Dur   time.Duration // how long it took, including emulated blocking
	Node  string        // lab node the socket lives in
	Sock  string        // the experiment's name for the socket
	Op    Op
	Args  string        // the arguments, as a reader would write them ("198.18.1.2:80")
	Ret   int           // the return value: bytes, a descriptor, 0 or -1
	Errno syscall.Errno // 0 on success
	Data  []byte        // bytes received (recv) or sent (send)
	Info  string        // extra result: local address, epoll events, SO_ERROR name
	Timed bool          // the call was still blocked when its timeout expired
	// Step is the id of the experiment step that made the call ("" for a step
	// without one): a step's calls are its socket, options and bind on the way and
	// its main call, and the call expectations of the step read them here.
	Step string
}

// Kind is KindCall.
func (*Call) Kind() Kind { return KindCall }

// ErrnoName is the errno's symbolic name ("ECONNREFUSED"), or "" on success.
func (c Call) ErrnoName() string {
	if c.Errno == 0 {
		return ""
	}
	return ErrnoName(c.Errno)
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
	if len(c.Data) > 0 && c.Op == opRecv {
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

// ErrnoName is an errno's symbolic name as golang.org/x/sys/unix spells it
// ("ECONNREFUSED"), or "errno N" for a number Linux does not define.
func ErrnoName(e syscall.Errno) string {
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

// ErrnoValue is the errno a symbolic name stands for, and whether the name is one.
func ErrnoValue(name string) (syscall.Errno, bool) {
	for e, n := range errnoNames {
		if n == name {
			return e, true
		}
	}
	return 0, false
}
