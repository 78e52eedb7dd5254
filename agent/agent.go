package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/pktlab/pktlab/internal/enumname"
	"golang.org/x/sys/unix"
)

// Kind is the kind of socket to open.
type Kind int

// Socket kinds.
const (
	TCP Kind = iota + 1
	UDP
)

var kindNames = [...]string{TCP: "tcp", UDP: "udp"}

func (k Kind) String() string { return enumname.Name(k, kindNames[:], "Kind(%d)") }

// Config says where the agent runs. A nil Do runs calls on the current thread (the
// host's namespace: tests use loopback only).
type Config struct {
	Node string                      // node name, carried in every Call
	Do   func(fn func() error) error // runs fn on a thread in the node's netns (testlab Node.Do)
	Emit func(Call)                  // receives every Call as it completes; may be nil
	Now  func() time.Time            // clock; nil means time.Now
}

// Agent drives named sockets in one node. Its methods are safe for concurrent use on
// different sockets (parallel experiment steps); calls on one socket are not serialised
// beyond what the kernel does.
type Agent struct {
	*node
	step string // Call.Step of every call made through this Agent (ForStep)
}

// node is what an agent and its step views share.
type node struct {
	cfg Config

	mu    sync.Mutex         // guards socks and calls
	socks map[string]*socket // by experiment name
	calls []Call
}

type socket struct {
	fd     int
	kind   Kind
	family int
	epfd   int    // epoll instance, -1 until the first epoll wait
	epmode uint32 // events registered with epfd
}

// New returns an agent for one node.
func New(cfg Config) *Agent {
	if cfg.Do == nil {
		cfg.Do = func(fn func() error) error { return fn() }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Agent{node: &node{cfg: cfg, socks: make(map[string]*socket)}}
}

// ForStep is a view of the agent whose calls carry Step: step, so that a reader of
// the calls (an experiment's expectations) knows which step made each. It shares
// the agent's sockets and records: closing either closes both.
func (a *Agent) ForStep(step string) *Agent { return &Agent{node: a.node, step: step} }

// Calls returns every call made so far, in completion order.
func (a *Agent) Calls() []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Call(nil), a.calls...)
}

// Sockets lists the names of the open sockets, sorted.
func (a *Agent) Sockets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for n := range a.socks {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Close closes every socket the agent still holds, without logging. Safe twice.
func (a *Agent) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for n, s := range a.socks {
		if s.epfd >= 0 {
			unix.Close(s.epfd)
		}
		unix.Close(s.fd)
		delete(a.socks, n)
	}
	return nil
}

// ErrNoSocket is returned for a socket name the agent does not hold.
var ErrNoSocket = errors.New("no such socket")

func (a *Agent) lookup(name string) (*socket, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.socks[name]
	if !ok {
		return nil, fmt.Errorf("agent: socket %q on node %s: %w (open it with listen, connect or udp first)", name, a.cfg.Node, ErrNoSocket)
	}
	return s, nil
}

// begin starts a Call record.
func (a *Agent) begin(sock string, op Op, args string) Call {
	return Call{Start: a.cfg.Now(), Node: a.cfg.Node, Sock: sock, Op: op, Args: args, Step: a.step}
}

// finish stamps the duration and errno, logs and emits the call.
func (a *Agent) finish(c Call, err error) Call {
	c.Dur = a.cfg.Now().Sub(c.Start)
	if err != nil {
		var en unix.Errno
		if errors.As(err, &en) {
			c.Errno = en
			c.Ret = -1
		}
	}
	a.mu.Lock()
	a.calls = append(a.calls, c)
	a.mu.Unlock()
	if a.cfg.Emit != nil {
		a.cfg.Emit(c)
	}
	return c
}

// Open creates a socket of kind for family (4 or 6) named name, in the node's namespace.
func (a *Agent) Open(name string, kind Kind, family int) (Call, error) {
	a.mu.Lock()
	_, dup := a.socks[name]
	a.mu.Unlock()
	if dup {
		return Call{}, fmt.Errorf("agent: socket %q on node %s is already open (use another name)", name, a.cfg.Node)
	}
	af := unix.AF_INET
	if family == 6 {
		af = unix.AF_INET6
	}
	typ, proto := unix.SOCK_STREAM, unix.IPPROTO_TCP
	if kind == UDP {
		typ, proto = unix.SOCK_DGRAM, unix.IPPROTO_UDP
	}
	c := a.begin(name, OpSocket, fmt.Sprintf("%s, %s", afName(af), kind))
	fd := -1
	err := a.cfg.Do(func() error {
		var err error
		fd, err = unix.Socket(af, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if err != nil {
		var en unix.Errno
		if !errors.As(err, &en) {
			return Call{}, fmt.Errorf("agent: socket %q on node %s: %w", name, a.cfg.Node, err)
		}
	} else {
		c.Ret = fd
		a.mu.Lock()
		a.socks[name] = &socket{fd: fd, kind: kind, family: family, epfd: -1}
		a.mu.Unlock()
	}
	return a.finish(c, err), nil
}

func afName(af int) string {
	if af == unix.AF_INET6 {
		return "AF_INET6"
	}
	return "AF_INET"
}

// sockaddr converts an address to the socket's family (v4 addresses become v4-mapped on
// AF_INET6 sockets).
func sockaddr(s *socket, ap netip.AddrPort) unix.Sockaddr {
	if s.family == 6 {
		sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
		return sa
	}
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
}

func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// LocalAddr returns the socket's bound address (getsockname(2)); not logged.
func (a *Agent) LocalAddr(name string) (netip.AddrPort, error) {
	s, err := a.lookup(name)
	if err != nil {
		return netip.AddrPort{}, err
	}
	sa, err := unix.Getsockname(s.fd)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("agent: getsockname on %s %s: %w", a.cfg.Node, name, err)
	}
	return addrPort(sa), nil
}

// RemoteAddr returns the socket's peer address (getpeername(2)); not logged.
func (a *Agent) RemoteAddr(name string) (netip.AddrPort, error) {
	s, err := a.lookup(name)
	if err != nil {
		return netip.AddrPort{}, err
	}
	sa, err := unix.Getpeername(s.fd)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("agent: getpeername on %s %s: %w", a.cfg.Node, name, err)
	}
	return addrPort(sa), nil
}

// waitFD polls fd for events until one is ready or ctx is done. It returns the revents,
// or ctx.Err().
func waitFD(ctx context.Context, fd int, events int16) (int16, error) {
	const slice = 20 // ms: how quickly a cancelled context is noticed
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		ms := slice
		if dl, ok := ctx.Deadline(); ok {
			left := time.Until(dl)
			if left <= 0 {
				// The deadline has passed but the context's timer has not fired yet
				// (a loaded machine): never hand poll(2) a negative timeout, which
				// would block forever.
				return 0, context.DeadlineExceeded
			}
			if left < time.Duration(ms)*time.Millisecond {
				ms = int(left/time.Millisecond) + 1
			}
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
		n, err := unix.Poll(pfd, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n > 0 {
			return pfd[0].Revents, nil
		}
	}
}
