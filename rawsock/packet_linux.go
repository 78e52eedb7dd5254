//go:build linux

package rawsock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/packet"
	"github.com/pktlab/pktlab/testlab"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// DefaultRecvBuffer is the receive buffer a packet socket asks for when Config leaves
// it zero: 4 MiB, twice tcpdump's default (-B 2048), so that a burst on a veth does not
// overflow it before the reader runs.
const DefaultRecvBuffer = 4 << 20

// Config says how to open a packet socket. A nil *Config means a raw ETH_P_ALL socket
// without promiscuous mode or filter.
type Config struct {
	// Cooked opens a SOCK_DGRAM socket: frames arrive without their link-layer header
	// (packet(7)), and Frame carries what the header said.
	Cooked bool
	// Protocol selects the EtherTypes the socket receives; zero means ProtoAll.
	Protocol Protocol
	// Promisc asks for every frame on the link with PACKET_ADD_MEMBERSHIP /
	// PACKET_MR_PROMISC. The kernel drops the membership, and the interface's
	// promiscuity count, when the socket closes, so a crashed capture never leaves
	// the interface promiscuous (unlike setting IFF_PROMISC; packet(7)).
	Promisc bool
	// Filter is a classic BPF program (e.g. from capfilter.Compile) that the kernel
	// runs on each frame. It is attached before bind(2), so no unfiltered frame is
	// ever queued. For a cooked socket it sees the frame from the network header.
	Filter []bpf.Instruction
	// RecvBuffer is SO_RCVBUF in bytes; zero means DefaultRecvBuffer.
	RecvBuffer int
	// Ring, when non-zero, receives through a memory-mapped TPACKET_V3 ring of
	// about this many bytes (PACKET_RX_RING, as tcpdump does) instead of one
	// recvmsg(2) per frame; RecvBuffer then does not apply. The ring is a whole
	// number of 256 KiB blocks, at least MinRing.
	//
	// A socket's ring or receive buffer counts against the process's receive
	// memory (RecvMemoryLimit): Open fails with an error wrapping ErrTooLarge,
	// before it creates anything, when the size is over what is left.
	Ring int
}

// Conn is a packet socket bound to one interface of one lab node. Reads and writes
// may run concurrently with each other; Close is safe to call twice.
type Conn struct {
	pc      *packet.Conn
	rc      syscall.RawConn
	lab     string
	node    string
	iface   string
	ifindex int
	cooked  bool
	proto   Protocol
	recvMem int // receive memory reserved by Open, released by Close

	readMu       sync.Mutex // serialises ReadFrame and guards the fields below
	msg          unix.Msghdr
	iov          unix.Iovec
	sa           unix.RawSockaddrLinklayer
	oob          [64]byte
	rn           int
	rflags       int
	rerr         error
	ring         *rxRing // non-nil with Config.Ring
	readFn       func(fd uintptr) bool
	readFnNoWait func(fd uintptr) bool
	wouldBlock   bool

	statsMu sync.Mutex // guards total: PACKET_STATISTICS resets on every read
	total   Stats

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Stats are the kernel's counters for a socket since it was opened
// (PACKET_STATISTICS, packet(7)).
type Stats struct {
	// Received counts frames that passed the filter, including those dropped
	// (tcpdump's "packets received by filter").
	Received uint64
	// Dropped counts frames the kernel discarded because the socket's receive
	// buffer was full (tcpdump's "packets dropped by kernel").
	Dropped uint64
}

// Open opens a packet socket on interface iface of node n. The socket is created on a
// thread inside the node's network namespace, where it stays for its whole life.
func Open(n *testlab.Node, iface string, cfg *Config) (*Conn, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c := &Conn{lab: n.Lab().Name(), node: n.Name(), iface: iface, cooked: cfg.Cooked, proto: cfg.Protocol}
	if c.proto == 0 {
		c.proto = ProtoAll
	}
	mem, what, err := recvMemory(cfg)
	if err != nil {
		return nil, c.opError("open packet socket", err)
	}
	if err := reserveRecvMemory(mem, what); err != nil {
		return nil, c.opError("open packet socket", err)
	}
	c.recvMem = mem
	ok := false
	defer func() {
		if !ok {
			releaseRecvMemory(mem)
		}
	}()
	var raw []bpf.RawInstruction
	if len(cfg.Filter) > 0 {
		var err error
		if raw, err = bpf.Assemble(cfg.Filter); err != nil {
			return nil, c.opError("assemble capture filter", err)
		}
	}
	typ := packet.Raw
	if cfg.Cooked {
		typ = packet.Datagram
	}
	err = n.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return fmt.Errorf("%w: %q", errNoInterface, iface)
		}
		c.ifindex = ifi.Index
		// packet.Listen takes the protocol in host order and converts it with
		// htons for bind(2); see Protocol.Network. It attaches a filter that drops
		// everything before bind, so that nothing is queued until the buffer size,
		// timestamps and the caller's filter are in place (a frame queued before
		// SO_TIMESTAMPNS would carry no timestamp).
		c.pc, err = packet.Listen(ifi, typ, int(c.proto), &packet.Config{Filter: dropAll})
		return err
	})
	if err != nil {
		return nil, c.opError("open packet socket", err)
	}
	if err := c.setup(cfg); err != nil {
		c.pc.Close()
		return nil, err
	}
	if cfg.Ring > 0 {
		if err := c.setupRing(cfg.Ring); err != nil {
			c.pc.Close()
			return nil, err
		}
	}
	ok = true // from here Close releases the memory
	if err := c.setFilter(raw); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// dropAll is the classic BPF program "ret #0": accept no frame.
var dropAll = mustAssemble(bpf.RetConstant{Val: 0})

func mustAssemble(prog ...bpf.Instruction) []bpf.RawInstruction {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		panic(err)
	}
	return raw
}

// setFilter replaces the drop-all filter with the caller's program, or removes it
// (SO_DETACH_FILTER, socket(7)) when there is none. Replacing a socket filter is
// atomic in the kernel (sk_attach_filter swaps the pointer).
func (c *Conn) setFilter(raw []bpf.RawInstruction) error {
	if len(raw) > 0 {
		if err := c.pc.SetBPF(raw); err != nil {
			return c.opError("attach capture filter", err)
		}
		return nil
	}
	var serr error
	err := c.rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0) })
	if err = errors.Join(err, serr); err != nil {
		return c.opError("detach filter", os.NewSyscallError("setsockopt", err))
	}
	return nil
}

// setup applies the options that need an open socket.
func (c *Conn) setup(cfg *Config) error {
	if cfg.Promisc {
		if err := c.pc.SetPromiscuous(true); err != nil {
			return c.opError("add PACKET_MR_PROMISC membership", err)
		}
	}
	rc, err := c.pc.SyscallConn()
	if err != nil {
		return c.opError("open packet socket", err)
	}
	c.rc = rc
	bufSize := cfg.RecvBuffer
	if bufSize == 0 {
		bufSize = DefaultRecvBuffer
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		// SO_RCVBUFFORCE passes rmem_max for a privileged caller; fall back to
		// SO_RCVBUF (clamped to rmem_max) without CAP_NET_ADMIN.
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bufSize); serr != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, bufSize)
		}
		if serr == nil {
			// Nanosecond receive timestamps as SCM_TIMESTAMPNS (socket(7)).
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		}
	})
	if err = errors.Join(err, serr); err != nil {
		return c.opError("set socket options", os.NewSyscallError("setsockopt", err))
	}
	c.msg.Name = (*byte)(unsafe.Pointer(&c.sa))
	c.msg.Iov = &c.iov
	c.msg.SetIovlen(1)
	c.msg.Control = &c.oob[0]
	c.readFn = c.recvmsg
	c.readFnNoWait = c.recvmsgNoWait
	return nil
}

func (c *Conn) opError(op string, err error) error {
	return &Error{Op: op, Lab: c.lab, Node: c.node, Iface: c.iface, Err: err}
}

// Node returns the name of the node the socket lives in.
func (c *Conn) Node() string { return c.node }

// Interface returns the name of the interface the socket is bound to.
func (c *Conn) Interface() string { return c.iface }

// Cooked reports whether frames arrive without their link-layer header.
func (c *Conn) Cooked() bool { return c.cooked }

// Protocol returns the protocol the socket was opened with.
func (c *Conn) Protocol() Protocol { return c.proto }

// BoundProtocol returns sll_protocol as the kernel holds it for the bound socket
// (getsockname(2)): the protocol in network byte order, read as a host integer.
func (c *Conn) BoundProtocol() (uint16, error) {
	var sa unix.Sockaddr
	var serr error
	err := c.rc.Control(func(fd uintptr) { sa, serr = unix.Getsockname(int(fd)) })
	if err = errors.Join(err, serr); err != nil {
		return 0, c.opError("getsockname", os.NewSyscallError("getsockname", err))
	}
	return sa.(*unix.SockaddrLinklayer).Protocol, nil
}

// Stats returns the kernel's counters since the socket was opened.
func (c *Conn) Stats() (Stats, error) {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	s, err := c.pc.Stats()
	if err != nil {
		return c.total, c.opError("read PACKET_STATISTICS", err)
	}
	// The kernel zeroes its counters on each read (net/packet/af_packet.c,
	// packet_getsockopt), and tp_packets already includes tp_drops.
	c.total.Received += uint64(s.Packets)
	c.total.Dropped += uint64(s.Drops)
	return c.total, nil
}

// Close closes the socket; the kernel drops its promiscuous membership. It is safe
// to call more than once and returns the first call's result. Reads and writes after
// (or during) Close fail with an error that Is net.ErrClosed.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if err := c.pc.Close(); err != nil {
			c.closeErr = c.opError("close", err)
		}
		if c.ring != nil {
			// Closing woke any reader; wait for it to leave the ring, then unmap.
			c.readMu.Lock()
			unix.Munmap(c.ring.mem)
			c.ring = nil
			c.readMu.Unlock()
		}
		releaseRecvMemory(c.recvMem)
	})
	return c.closeErr
}

// withDeadline arranges for set(past) to be called when ctx ends, and returns a
// function that undoes it. It is how a blocking socket call honours a context.
//
// The undo waits for a set(past) already under way (context.AfterFunc runs it on its
// own goroutine, at any moment after ctx ends): otherwise it could land after the
// undo, or after a deadline the caller sets next (Capture's drain of the ring when
// stopped), and cut that wait short. It is safe to call more than once.
func withDeadline(ctx context.Context, set func(time.Time) error) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		set(time.Unix(1, 0))
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			if !stop() {
				<-fired
			}
			set(time.Time{})
		})
	}
}

// ioError maps a deadline error caused by ctx to ctx's error, and any error after
// Close to net.ErrClosed.
func (c *Conn) ioError(ctx context.Context, err error) error {
	switch {
	case c.closed.Load():
		return net.ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}
