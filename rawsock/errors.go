package rawsock

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Error is what every socket operation of this package returns: what failed, on which
// node and interface of which lab, the cause, and what to do about it. It unwraps to
// the cause, so errors.Is(err, os.ErrPermission) works.
type Error struct {
	Op    string // "open packet socket", "read", "write", "set promiscuous", ...
	Lab   string
	Node  string
	Iface string // empty for raw IP sockets
	Err   error
}

func (e *Error) Error() string {
	where := e.Node
	if e.Iface != "" {
		where += ":" + e.Iface
	}
	msg := fmt.Sprintf("rawsock: %s on %s", e.Op, where)
	if e.Lab != "" {
		msg += fmt.Sprintf(" in lab %q", e.Lab)
	}
	msg += ": " + e.Err.Error()
	if h := hint(e.Err); h != "" {
		msg += " (" + h + ")"
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// hint says what to do about the common failures.
func hint(err error) string {
	switch {
	case errors.Is(err, os.ErrPermission):
		return "run as root or grant CAP_NET_RAW"
	case errors.Is(err, syscall.ENODEV), errors.Is(err, errNoInterface):
		return "check the interface name with `pktlab lab show`"
	case errors.Is(err, syscall.ENETDOWN):
		return "the interface is down; bring it up inside the node"
	case errors.Is(err, syscall.EMSGSIZE):
		return "the frame is larger than the interface MTU plus its link header"
	case errors.Is(err, os.ErrClosed):
		return "the socket was closed"
	}
	return ""
}

var errNoInterface = errors.New("no such interface")

var (
	errShortBuffer = errors.New("empty read buffer")
	errShortFrame  = errors.New("frame shorter than an Ethernet header (14 bytes)")
	errCookedWrite = errors.New("WriteFrame needs a raw socket; a cooked socket sends with WriteTo")
	errRawWriteTo  = errors.New("WriteTo needs a cooked socket; a raw socket sends whole frames with WriteFrame")
)

func itoa(v int) string { return fmt.Sprint(v) }
