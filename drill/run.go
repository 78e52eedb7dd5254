package drill

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"time"
)

// Options choose the stack and what a run may do.
type Options struct {
	Stack           string   // "kernel" (default) or "userspace"
	Config          *Config  // nil: DefaultConfig with the script's options applied
	Flags           []Option // command-line options, applied after the script's
	AllowHostSysctl bool     // run shell lines that write host-global settings
	Dir             string   // working directory of shell lines (default: the script's)
}

// outboundGrace is how long past its expected time an outbound packet is waited for,
// as packetdrill's (expected delay + 2 s).
const outboundGrace = 2 * time.Second

// stack is a TCP stack a script plays against.
type stack interface {
	// now is the stack's time since the script started.
	now() time.Duration
	// rebase makes now the script's time 0.
	rebase()
	// sleepUntil waits until script time t.
	sleepUntil(ctx context.Context, t time.Duration) error
	// inject delivers an IP packet to the stack.
	inject(pkt []byte) error
	// recv returns the next IP packet the stack sent and when, or errTimeout at the
	// script time deadline.
	recv(ctx context.Context, deadline time.Duration) ([]byte, time.Duration, error)
	// call starts a socket call; its result arrives on the channel when it returns
	// (at once, or later for a call that blocks).
	call(ctx context.Context, c *Syscall) <-chan callResult
	// wait waits for a call's result until script time deadline (blocked if none).
	wait(ctx context.Context, done <-chan callResult, deadline time.Duration) (callResult, error)
	// shell runs a command line; note says what was done instead, if anything.
	shell(ctx context.Context, cmd, dir string) (note string, err error)
	// tcpInfo returns TCP_INFO of the script's socket fd.
	tcpInfo(fd int64) (TCPInfo, error)
	close() error
}

// callResult is what a call returned; bad is a mismatch of its output arguments.
type callResult struct {
	ret     int64
	errno   string
	end     time.Duration
	bad     string
	blocked bool // it had not returned by the deadline
	fatal   error
}

// netConfig is the addressing of a run.
type netConfig struct {
	local, remote netip.Addr // the packets' addresses (IPv4 for ipv4-mapped-ipv6)
	sockLocal     netip.Addr // what the socket calls see (::ffff:a.b.c.d when mapped)
	sockRemote    netip.Addr
	family        int // AF_INET or AF_INET6 of the script's sockets
	mtu           int
	bindPort      uint16
}

func newNetConfig(c *Config) (*netConfig, error) {
	n := &netConfig{mtu: c.MTU, bindPort: c.BindPort, family: afInet}
	l, r := "198.18.0.1", "198.18.0.2"
	hdrs := 40
	if c.IPVersion == "ipv6" {
		l, r, n.family, hdrs = "2001:db8::1", "2001:db8::2", afInet6, 60
	}
	if n.mtu == 0 {
		// One script, one MSS on both families: the IPv6 tun is 20 bytes larger, so
		// mss 1460 holds in both runs.
		n.mtu = c.MSS + hdrs
	}
	if c.LocalIP != "" {
		l = c.LocalIP
	}
	if c.RemoteIP != "" {
		r = c.RemoteIP
	}
	var err error
	if n.local, err = labAddr(l, "local_ip"); err != nil {
		return nil, err
	}
	if n.remote, err = labAddr(r, "remote_ip"); err != nil {
		return nil, err
	}
	n.sockLocal, n.sockRemote = n.local, n.remote
	if c.IPVersion == "ipv4-mapped-ipv6" {
		if !n.local.Is4() {
			return nil, fmt.Errorf("--ip_version=ipv4-mapped-ipv6 needs IPv4 addresses")
		}
		n.family = afInet6
		n.sockLocal, n.sockRemote = netip.AddrFrom16(n.local.As16()), netip.AddrFrom16(n.remote.As16())
	}
	if n.local.Is4() != n.remote.Is4() {
		return nil, fmt.Errorf("local_ip %v and remote_ip %v are not of one family", n.local, n.remote)
	}
	return n, nil
}

// labAddr accepts only lab addresses: the tun device's address is in the node, but
// the project keeps every lab address in 198.18.0.0/15 and 2001:db8::/32.
func labAddr(s, what string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fmt.Errorf("--%s=%s: not an IP address", what, s)
	}
	if !netip.MustParsePrefix("198.18.0.0/15").Contains(a) && !netip.MustParsePrefix("2001:db8::/32").Contains(a) {
		return a, fmt.Errorf("--%s=%s: pktlab uses lab addresses only (198.18.0.0/15, 2001:db8::/32)", what, s)
	}
	return a, nil
}

// Prepare returns the configuration a script runs with: the defaults, the script's
// option lines, then flags. Errors are *Error (exit 2).
func Prepare(s *Script, flags []Option) (*Config, error) {
	c := DefaultConfig()
	if err := c.Apply(s.Options); err != nil {
		return nil, err
	}
	if err := c.Apply(flags); err != nil {
		return nil, err
	}
	if _, err := newNetConfig(&c); err != nil {
		return nil, &Error{Pos: Pos{File: s.File, Line: 1, Col: 1}, Msg: err.Error()}
	}
	return &c, nil
}

// Run plays s against the stack o chooses. A mismatch is in the Result; an error is
// a run that could not be made (no lab, a cancelled context) or a bad configuration
// (*Error).
func Run(ctx context.Context, s *Script, o Options) (*Result, error) {
	cfg := o.Config
	if cfg == nil {
		var err error
		if cfg, err = Prepare(s, o.Flags); err != nil {
			return nil, err
		}
	}
	nc, err := newNetConfig(cfg)
	if err != nil {
		return nil, &Error{Pos: Pos{File: s.File, Line: 1, Col: 1}, Msg: err.Error()}
	}
	if o.Stack == "" {
		o.Stack = "kernel"
	}
	if o.Dir == "" {
		o.Dir = filepath.Dir(s.File)
	}
	wall := time.Now()
	r := &runner{s: s, cfg: cfg, nc: nc, opts: o, res: &Result{Script: s, Stack: o.Stack}}
	r.flow.init(nc)
	var st stack
	switch o.Stack {
	case "kernel":
		st, err = newKernelStack(ctx, nc, &r.flow)
	case "userspace":
		st, err = newUserStack(nc, &r.flow, cfg)
	default:
		return nil, fmt.Errorf("drill: unknown stack %q (kernel, userspace)", o.Stack)
	}
	if err != nil {
		return nil, err
	}
	r.st = st
	err = r.run(ctx)
	if cerr := st.close(); err == nil {
		err = cerr
	}
	r.res.Wall = time.Since(wall)
	return r.res, err
}

// runner plays one script.
type runner struct {
	s       *Script
	cfg     *Config
	nc      *netConfig
	opts    Options
	st      stack
	res     *Result
	flow    flow
	last    lastEvent
	pending *pendingCall
}

// lastEvent is what the relative time of the next event is based on.
type lastEvent struct {
	script  time.Duration // its script time
	actual  time.Duration // when it finished
	inbound bool
}

// errStop ends a run at its first mismatch (recorded in the result).
var errStop = errors.New("mismatch")

func (r *runner) run(ctx context.Context) error {
	started := false
	for _, e := range r.s.Events {
		if !started && e.Time.Kind != TimeNone {
			// Shell lines before the first timed event are packetdrill's init
			// command: the script's time 0 is when they are done.
			r.st.rebase()
			started = true
		}
		if err := r.event(ctx, e); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	if err := r.finishPending(ctx, nil); err != nil && !errors.Is(err, errStop) {
		return err
	}
	return nil
}

// fail records the mismatch and stops the run.
func (r *runner) fail(e *Event, kind, msg string) error {
	r.res.Mismatch = &Mismatch{Pos: e.Pos, Kind: kind, Msg: msg}
	return errStop
}

// window is when an event is due: [lo, hi] in script time, and the tolerance.
type window struct {
	lo, hi time.Duration
	tol    time.Duration
	any    bool
}

func (w window) holds(t time.Duration) bool { return w.any || (t >= w.lo-w.tol && t <= w.hi+w.tol) }

// due computes an event's window (packetdrill's adjust_relative_event_times: the base
// of a relative time is the previous event's script time when both are inbound
// packets, else the time the previous event actually finished).
func (r *runner) due(e *Event) window {
	inbound := e.Kind == EventPacket && e.Packet.Dir == Inbound
	var w window
	switch e.Time.Kind {
	case TimeNone, TimeAny:
		now := r.st.now()
		return window{lo: now, hi: now, any: true}
	case TimeAbsolute:
		w.lo, w.hi = e.Time.Start, e.Time.Start
	case TimeRelative:
		base := r.last.actual
		if inbound && r.last.inbound {
			base = r.last.script
		}
		w.lo, w.hi = base+e.Time.Start, base+e.Time.Start
	}
	if e.Time.Range {
		w.hi = w.lo - e.Time.Start + e.Time.End
	}
	w.tol = max(r.cfg.Tolerance, time.Duration(r.cfg.TolerancePercent/100*float64(w.lo-r.last.script)))
	return w
}

func (r *runner) event(ctx context.Context, e *Event) error {
	w := r.due(e)
	if e.Kind != EventPacket || e.Packet.Dir == Inbound {
		if err := r.st.sleepUntil(ctx, w.lo); err != nil {
			return err
		}
	}
	var err error
	switch e.Kind {
	case EventPacket:
		err = r.packet(ctx, e, w)
	case EventSyscall:
		err = r.syscall(ctx, e, w)
	case EventShell:
		err = r.shellLine(ctx, e)
	case EventCode:
		err = r.code(e)
	}
	if err != nil {
		return err
	}
	actual := r.st.now()
	if n := len(r.res.Steps); e.Kind == EventPacket && e.Packet.Dir == Outbound && n > 0 && r.res.Steps[n-1].Event == e {
		actual = r.res.Steps[n-1].At // when the packet was sniffed, as packetdrill takes it
	}
	r.last = lastEvent{script: w.lo, actual: actual, inbound: e.Kind == EventPacket && e.Packet.Dir == Inbound}
	r.res.End = r.last.actual
	return nil
}

// flow is the one connection a script drives: its addresses, ports and ISNs.
type flow struct {
	local, remote netip.AddrPort
	localKnown    bool   // the local port is known (bound, or seen in the first SYN)
	localISN      uint32 // live local ISN − script local ISN
	haveLocalISN  bool
	remoteNext    uint32
	ts            map[uint32]uint32 // script TS val → live TS val of outbound packets
}

func (f *flow) init(nc *netConfig) { f.reset(nc) }

// reset starts a new connection: a new socket gets a fresh remote port, ISN and TS
// map (packetdrill keeps them per socket).
func (f *flow) reset(nc *netConfig) {
	*f = flow{}
	f.local = netip.AddrPortFrom(nc.local, nc.bindPort)
	f.remote = netip.AddrPortFrom(nc.remote, uint16(32768+rand.IntN(28000)))
	f.ts = map[uint32]uint32{}
}

// connect makes the script's socket the active opener: the remote port is the bind
// port and the local one is learned from the kernel's SYN.
func (f *flow) connect(nc *netConfig, port uint16) {
	f.remote = netip.AddrPortFrom(nc.remote, port)
}

func (f *flow) bind() { f.localKnown = true }
