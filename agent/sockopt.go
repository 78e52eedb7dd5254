package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Opt is a socket option the agent can set.
type Opt string

// Socket options; the value's meaning is given beside each (see socket(7), tcp(7)).
const (
	OptLinger    Opt = "linger"    // seconds; SO_LINGER {1, v}; a negative value turns lingering off
	OptReuseAddr Opt = "reuseaddr" // 0 or 1; SO_REUSEADDR
	OptNoDelay   Opt = "nodelay"   // 0 or 1; TCP_NODELAY
	OptCork      Opt = "cork"      // 0 or 1; TCP_CORK
	OptKeepAlive Opt = "keepalive" // 0 or 1; SO_KEEPALIVE
	OptKeepIdle  Opt = "keepidle"  // seconds; TCP_KEEPIDLE
	OptKeepIntvl Opt = "keepintvl" // seconds; TCP_KEEPINTVL
	OptKeepCnt   Opt = "keepcnt"   // probes; TCP_KEEPCNT
	OptRcvBuf    Opt = "rcvbuf"    // bytes; SO_RCVBUF (the kernel doubles it)
	OptSndBuf    Opt = "sndbuf"    // bytes; SO_SNDBUF (the kernel doubles it)
	OptMaxSeg    Opt = "maxseg"    // bytes; TCP_MAXSEG
	OptPMTUDisc  Opt = "pmtudisc"  // IP_MTU_DISCOVER: 0 dont (no DF), 1 want, 2 do, 3 probe (ip(7))
	OptTTL       Opt = "ttl"       // IP_TTL
	// OptCongestion is the one option whose value is a name: TCP_CONGESTION, the
	// socket's congestion control (tcp(7)), set with SetOptName. Per socket, a process
	// with CAP_NET_ADMIN may choose any algorithm the kernel has loaded, also one that
	// net.ipv4.tcp_allowed_congestion_control leaves out (cubic, where a lab node's
	// sysctl net.ipv4.tcp_congestion_control=cubic fails with EPERM).
	OptCongestion Opt = "congestion"
)

// congestionNameMax is TCP_CA_NAME_MAX (16) less the terminating NUL.
const congestionNameMax = 15

// optLevel maps an option to its level and name.
var optLevel = map[Opt]struct {
	level, name int
	cname       string
}{
	OptLinger:     {unix.SOL_SOCKET, unix.SO_LINGER, "SO_LINGER"},
	OptReuseAddr:  {unix.SOL_SOCKET, unix.SO_REUSEADDR, "SO_REUSEADDR"},
	OptNoDelay:    {unix.IPPROTO_TCP, unix.TCP_NODELAY, "TCP_NODELAY"},
	OptCork:       {unix.IPPROTO_TCP, unix.TCP_CORK, "TCP_CORK"},
	OptKeepAlive:  {unix.SOL_SOCKET, unix.SO_KEEPALIVE, "SO_KEEPALIVE"},
	OptKeepIdle:   {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, "TCP_KEEPIDLE"},
	OptKeepIntvl:  {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, "TCP_KEEPINTVL"},
	OptKeepCnt:    {unix.IPPROTO_TCP, unix.TCP_KEEPCNT, "TCP_KEEPCNT"},
	OptRcvBuf:     {unix.SOL_SOCKET, unix.SO_RCVBUF, "SO_RCVBUF"},
	OptSndBuf:     {unix.SOL_SOCKET, unix.SO_SNDBUF, "SO_SNDBUF"},
	OptMaxSeg:     {unix.IPPROTO_TCP, unix.TCP_MAXSEG, "TCP_MAXSEG"},
	OptPMTUDisc:   {unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, "IP_MTU_DISCOVER"},
	OptTTL:        {unix.IPPROTO_IP, unix.IP_TTL, "IP_TTL"},
	OptCongestion: {unix.IPPROTO_TCP, unix.TCP_CONGESTION, "TCP_CONGESTION"},
}

// Opts lists the option names, for error messages.
func Opts() []string {
	return []string{"linger", "reuseaddr", "nodelay", "cork", "keepalive", "keepidle", "keepintvl", "keepcnt", "rcvbuf", "sndbuf", "maxseg", "pmtudisc", "ttl", "congestion"}
}

// NamedOpt reports whether o takes a name (SetOptName) instead of a number.
func NamedOpt(o Opt) bool { return o == OptCongestion }

// ValidCongestionName reports whether v can be a congestion control's name: 1 to 15
// lower-case letters, digits or underscores, as the kernel's algorithms are named.
func ValidCongestionName(v string) bool {
	if len(v) == 0 || len(v) > congestionNameMax {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// SetOptName sets an option whose value is a name (setsockopt(2) with a string):
// today only OptCongestion. An algorithm the kernel does not have is ENOENT in the
// call, as setsockopt returns it.
func (a *Agent) SetOptName(name string, o Opt, v string) (Call, error) {
	s, err := a.lookup(name)
	if err != nil {
		return Call{}, err
	}
	if !NamedOpt(o) {
		return Call{}, fmt.Errorf("agent: socket option %q takes a number, not a name", o)
	}
	if !ValidCongestionName(v) {
		return Call{}, fmt.Errorf("agent: %q is not a congestion control name (1 to %d of a-z, 0-9, _)", v, congestionNameMax)
	}
	lv := optLevel[o]
	c := a.begin(name, OpSetsockopt, fmt.Sprintf("%s %q", lv.cname, v))
	return a.finish(c, unix.SetsockoptString(s.fd, lv.level, lv.name, v)), nil
}

// ValidOpt reports whether o is an option the agent knows.
func ValidOpt(o Opt) bool { _, ok := optLevel[o]; return ok }

// SetOpt sets one socket option (setsockopt(2)).
func (a *Agent) SetOpt(name string, o Opt, v int) (Call, error) {
	s, err := a.lookup(name)
	if err != nil {
		return Call{}, err
	}
	lv, ok := optLevel[o]
	if !ok {
		return Call{}, fmt.Errorf("agent: unknown socket option %q (one of %s)", o, strings.Join(Opts(), ", "))
	}
	if NamedOpt(o) {
		return Call{}, fmt.Errorf("agent: socket option %q takes a name: use SetOptName", o)
	}
	if o == OptLinger {
		l := &unix.Linger{Onoff: 1, Linger: int32(v)}
		if v < 0 {
			l = &unix.Linger{}
		}
		c := a.begin(name, OpSetsockopt, fmt.Sprintf("SO_LINGER {onoff %d, linger %d}", l.Onoff, l.Linger))
		return a.finish(c, unix.SetsockoptLinger(s.fd, lv.level, lv.name, l)), nil
	}
	c := a.begin(name, OpSetsockopt, fmt.Sprintf("%s %d", lv.cname, v))
	return a.finish(c, unix.SetsockoptInt(s.fd, lv.level, lv.name, v)), nil
}

// EpollMode selects edge- or level-triggered readiness (epoll(7)).
type EpollMode int

// Epoll modes.
const (
	Level EpollMode = iota
	Edge
)

func (m EpollMode) String() string {
	if m == Edge {
		return "EPOLLET"
	}
	return "level"
}

// EpollWait registers the socket (once, or again when mode or events change) in its own
// epoll instance and waits up to timeout for readiness (epoll_wait(2)). Ret is the number
// of ready descriptors (0 or 1) and Info names the events ("EPOLLIN|EPOLLRDHUP").
func (a *Agent) EpollWait(ctx context.Context, name string, mode EpollMode, events uint32, timeout time.Duration) (Call, error) {
	s, err := a.lookup(name)
	if err != nil {
		return Call{}, err
	}
	want := events
	if mode == Edge {
		want |= unix.EPOLLET
	}
	c := a.begin(name, OpEpollWait, fmt.Sprintf("%s, %s", EventString(want), timeout))
	if s.epfd < 0 {
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return a.finish(c, err), nil
		}
		s.epfd = ep
		ev := unix.EpollEvent{Events: want, Fd: int32(s.fd)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
			return a.finish(c, err), nil
		}
		s.epmode = want
	} else if s.epmode != want {
		ev := unix.EpollEvent{Events: want, Fd: int32(s.fd)}
		if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_MOD, s.fd, &ev); err != nil {
			return a.finish(c, err), nil
		}
		s.epmode = want
	}
	deadline := time.Now().Add(timeout)
	evs := make([]unix.EpollEvent, 1)
	for {
		left := time.Until(deadline)
		ms := int(min(left, 20*time.Millisecond) / time.Millisecond)
		if ms < 0 {
			ms = 0
		}
		n, err := unix.EpollWait(s.epfd, evs, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return a.finish(c, err), nil
		}
		if n > 0 {
			c.Ret = n
			c.Info = EventString(evs[0].Events)
			return a.finish(c, nil), nil
		}
		if ctx.Err() != nil || time.Until(deadline) <= 0 {
			c.Info = "no events"
			return a.finish(c, nil), nil
		}
	}
}

var eventNames = []struct {
	bit  uint32
	name string
}{
	{unix.EPOLLIN, "EPOLLIN"}, {unix.EPOLLOUT, "EPOLLOUT"}, {unix.EPOLLRDHUP, "EPOLLRDHUP"},
	{unix.EPOLLPRI, "EPOLLPRI"}, {unix.EPOLLERR, "EPOLLERR"}, {unix.EPOLLHUP, "EPOLLHUP"},
	{unix.EPOLLET, "EPOLLET"},
}

// EventString names the bits of an epoll event mask, joined by "|".
func EventString(ev uint32) string {
	var parts []string
	for _, e := range eventNames {
		if ev&e.bit != 0 {
			parts = append(parts, e.name)
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// ParseEvent returns the epoll bit for a name such as "in", "out", "rdhup" or
// "EPOLLRDHUP".
func ParseEvent(s string) (uint32, bool) {
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "EPOLL") {
		u = "EPOLL" + u
	}
	for _, e := range eventNames {
		if e.name == u {
			return e.bit, true
		}
	}
	return 0, false
}

// DefaultEpollEvents is what an epoll wait watches when the experiment names no events:
// readable and peer-shutdown.
const DefaultEpollEvents = unix.EPOLLIN | unix.EPOLLRDHUP
