package drill

import (
	"context"
	"crypto/rand"
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/tcpstate/host"
)

// userStack is pktlab's userspace TCP (tcpstate's machine) as the local side, on a
// virtual clock: time moves only when the script waits, firing the machine's timers
// in order on the way, so a script with waits runs much faster than real time and
// timing is exact. Packets go to and from the machine as IP packets, as on tun0.
type userStack struct {
	nc      *netConfig
	flow    *flow
	cfg     tcpstate.Config
	epoch   time.Time
	t       time.Duration
	out     []sniffed
	socks   map[int64]*usock
	conns   []*uconn
	waiters []*waiter
	cur     int64
	nextEph uint16
}

// usock is a socket of the script.
type usock struct {
	typ         int
	nonblock    bool
	local       netip.AddrPort
	bound       bool
	listening   bool
	queue       []*uconn // established connections not yet accepted
	conn        *uconn
	linger0     bool
	reuseAddr   bool
	connecting  bool // a blocking connect is waiting
	readErrDone bool // a read has reported the connection's reset
	noDelay     bool
	reportErr   bool // SO_ERROR still to report the connection's error
	udpRemote   netip.AddrPort
	udpRx       [][]byte
	epoll       map[int64]uint32 // an epoll fd: watched script fds and their events
}

// uconn is one machine connection; listener is set until it is accepted.
type uconn struct {
	m        *tcpstate.Conn
	listener *usock
	accepted bool
}

// waiter is a blocking call: try is tried again after every change until it is done.
type waiter struct {
	try  func() (callResult, bool)
	done chan callResult
}

func newUserStack(nc *netConfig, f *flow, c *Config) (stack, error) {
	u := &userStack{nc: nc, flow: f, socks: map[int64]*usock{}, cur: -1, nextEph: 40000,
		epoch: time.Unix(1_000_000, 0)}
	u.cfg = LinuxProfile(c.MSS)
	if _, err := rand.Read(u.cfg.ISNSecret[:]); err != nil {
		return nil, err
	}
	return u, nil
}

// LinuxProfile is the tcpstate configuration that sends what Linux 6.x sends where
// the RFCs leave the choice (docs/drill.md lists what still differs): the MSS of the
// path, window scale 7 for Linux's default buffers, the 40 ms delayed ACK, a 200 ms
// minimum and 1 s initial RTO.
func LinuxProfile(mss int) tcpstate.Config {
	return tcpstate.Config{
		MSS:        uint16(mss),
		WScale:     tcpstate.DefaultWScale,
		DelayedAck: tcpstate.DefaultDelayedAck,
		MinRTO:     tcpstate.DefaultMinRTO,
		InitialRTO: tcpstate.DefaultInitialRTO,
	}
}

func (u *userStack) clock() time.Time   { return u.epoch.Add(u.t) }
func (u *userStack) now() time.Duration { return u.t }
func (u *userStack) rebase()            {}

// call maps a socket call onto the machine's connection API. A call that would block
// on a blocking socket becomes a waiter, retried after every packet and timer.
func (u *userStack) call(ctx context.Context, c *Syscall) <-chan callResult {
	done := make(chan callResult, 1)
	try := func() (callResult, bool) {
		ret, err, bad, again := u.dispatch(c)
		if again {
			return callResult{}, false
		}
		res := callResult{ret: ret, end: u.t, bad: bad}
		if err != nil {
			if e, ok := err.(syscall.Errno); ok {
				res.ret, res.errno = -1, errnoName(unix.Errno(e))
			} else {
				res.fatal = err
			}
		}
		return res, true
	}
	if r, ok := try(); ok {
		done <- r
	} else {
		u.waiters = append(u.waiters, &waiter{try: try, done: done})
	}
	return done
}

// advance moves the virtual clock to t, firing every timer due on the way at its own
// deadline.
func (u *userStack) advance(t time.Duration) {
	for {
		var first *uconn
		var at time.Time
		for _, c := range u.conns {
			if d := c.m.NextDeadline(); !d.IsZero() && (first == nil || d.Before(at)) {
				first, at = c, d
			}
		}
		if first == nil || at.After(u.epoch.Add(t)) {
			break
		}
		if d := at.Sub(u.epoch); d > u.t {
			u.t = d
		}
		u.apply(first, first.m.OnTimer(u.clock()))
	}
	if t > u.t {
		u.t = t
	}
}

func (u *userStack) sleepUntil(ctx context.Context, t time.Duration) error {
	u.advance(t)
	return ctx.Err()
}

func (u *userStack) recv(ctx context.Context, deadline time.Duration) ([]byte, time.Duration, error) {
	for len(u.out) == 0 {
		next, ok := u.nextDeadline()
		if !ok || next > deadline {
			u.advance(deadline)
			if len(u.out) == 0 {
				return nil, 0, errTimeout
			}
			break
		}
		u.advance(next)
	}
	p := u.out[0]
	u.out = u.out[1:]
	return p.b, p.at, ctx.Err()
}

func (u *userStack) nextDeadline() (time.Duration, bool) {
	var best time.Duration
	ok := false
	for _, c := range u.conns {
		if d := c.m.NextDeadline(); !d.IsZero() {
			if dd := max(d.Sub(u.epoch), u.t); !ok || dd < best {
				best, ok = dd, true
			}
		}
	}
	return best, ok
}

func (u *userStack) wait(ctx context.Context, done <-chan callResult, deadline time.Duration) (callResult, error) {
	for {
		select {
		case r := <-done:
			return r, nil
		default:
		}
		next, ok := u.nextDeadline()
		if !ok || next > deadline {
			u.advance(deadline)
			select {
			case r := <-done:
				return r, nil
			default:
				return callResult{blocked: true, end: u.t}, ctx.Err()
			}
		}
		u.advance(next)
	}
}

// apply queues a machine's output as IP packets stamped now, files a passively
// opened connection that reached ESTABLISHED in its listener's queue, and retries
// the blocked calls.
func (u *userStack) apply(c *uconn, out tcpstate.Output) {
	for i := range out.Segments {
		if b, err := u.serialize(c.m.Local(), c.m.Remote(), &out.Segments[i]); err == nil {
			u.out = append(u.out, sniffed{b: b, at: u.t})
		}
	}
	if c.listener != nil && !c.accepted && c.m.State() == tcpstate.Established {
		c.accepted = true
		c.listener.queue = append(c.listener.queue, c)
	}
	u.wake()
}

func (u *userStack) wake() {
	for progress := true; progress; {
		progress = false
		for i, w := range u.waiters {
			if r, ok := w.try(); ok {
				w.done <- r
				u.waiters = append(u.waiters[:i], u.waiters[i+1:]...)
				progress = true
				break
			}
		}
	}
}

// serialize lays a machine segment out as an IP packet, options in Linux's layout.
func (u *userStack) serialize(local, remote netip.AddrPort, seg *tcpstate.Segment) ([]byte, error) {
	t := &layers.TCP{SrcPort: layers.TCPPort(local.Port()), DstPort: layers.TCPPort(remote.Port()),
		Seq: uint32(seg.Seq), Ack: uint32(seg.Ack), Window: seg.Window}
	setFlags(t, seg.Flags)
	t.Options = host.TCPOptions(&seg.Options, seg.Flags&header.TCPFlagSYN != 0)
	ip := ipLayer(local.Addr(), remote.Addr(), layers.IPProtocolTCP, "")
	return rawsock.Serialize(nil, ip, t, gopacket.Payload(seg.Payload))
}

// inject hands a packet to the machine: to its connection, to a listener as a new
// connection, or answered with a RST when it reaches neither (RFC 9293 §3.10.7.1).
func (u *userStack) inject(pkt []byte) error {
	lp, err := decodePacket(pkt)
	if err != nil {
		return err
	}
	switch lp.proto {
	case ProtoUDP:
		u.udpInput(lp)
		return nil
	case ProtoTCP:
	default:
		return nil // ICMP: the machine has no path MTU discovery (docs/drill.md)
	}
	t := lp.tcp.view
	seg := host.SegmentOf(t)
	local, remote := netip.AddrPortFrom(lp.dst, t.DstPort()), netip.AddrPortFrom(lp.src, t.SrcPort())
	for _, c := range u.conns {
		if c.m.Local() == local && c.m.Remote() == remote && c.m.State() != tcpstate.Closed {
			u.apply(c, c.m.HandleSegment(u.clock(), &seg))
			return nil
		}
	}
	if l := u.listener(local.Port()); l != nil && seg.Flags&(header.TCPFlagSYN|header.TCPFlagACK|header.TCPFlagRST) == header.TCPFlagSYN {
		cfg := u.cfg
		cfg.NoDelay = l.noDelay
		c := &uconn{m: tcpstate.NewListening(&cfg, local, remote, u.clock()), listener: l}
		u.conns = append(u.conns, c)
		u.apply(c, c.m.HandleSegment(u.clock(), &seg))
		return nil
	}
	if rst, ok := tcpstate.Reset(&seg); ok {
		b, err := u.serialize(local, remote, &rst)
		if err != nil {
			return err
		}
		u.out = append(u.out, sniffed{b: b, at: u.t})
	}
	return nil
}

func (u *userStack) listener(port uint16) *usock {
	for _, s := range u.socks {
		if s.listening && s.local.Port() == port {
			return s
		}
	}
	return nil
}

func (u *userStack) udpInput(lp *livePacket) {
	for _, s := range u.socks {
		if s.typ == syscall.SOCK_DGRAM && s.bound && s.local.Port() == lp.udpPorts[1] {
			s.udpRx = append(s.udpRx, make([]byte, lp.udpLen))
			u.wake()
			return
		}
	}
}

// userSysctls are the sysctls the userspace stack reads from a script's shell lines,
// as its configuration.
var userSysctlRE = regexp.MustCompile(`^sysctl (?:-q |-w )*net\.ipv4\.(tcp_sack|tcp_timestamps|tcp_window_scaling)=([01])$`)

// shell applies the sysctls the machine has a setting for; any other command is
// skipped (there is no node to run it in, and the host is never touched).
func (u *userStack) shell(ctx context.Context, cmd, dir string) (string, error) {
	m := userSysctlRE.FindStringSubmatch(strings.TrimSpace(cmd))
	if m == nil {
		return "skipped: the userspace stack has no node to run shell lines in", nil
	}
	off := m[2] == "0"
	switch m[1] {
	case "tcp_sack":
		u.cfg.NoSACK = off
	case "tcp_timestamps":
		u.cfg.NoTimestamps = off
	case "tcp_window_scaling":
		u.cfg.NoWindowScale = off
	}
	return "", nil
}

func (u *userStack) close() error { return nil }
