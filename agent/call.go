package agent

import "github.com/pktlab/pktlab/timeline"

// Op names a socket operation the agent performs. The type is the timeline's, where
// calls are recorded.
type Op = timeline.Op

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

// Call is the record of one system call the agent made. It is the timeline's type,
// so that the timeline and what reads it import no system-call package.
type Call = timeline.Call
