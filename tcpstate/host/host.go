package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/tcpstate/clock"
	"github.com/pktlab/pktlab/testlab"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Config says how a host attaches to a node. The zero Config, and a nil *Config,
// mean the documented defaults: own-address mode on the node's first interface, with
// addresses and a MAC derived from the node's (see Addrs), the wall clock, and GSO.
type Config struct {
	// Interface is the node's interface to use; "" means its first interface.
	Interface string
	// Addrs are the host's own addresses with their prefix (on-link range), e.g.
	// 198.18.1.10/24 and 2001:db8:1::10/64. Empty in own-address mode means one
	// per lab subnet of the interface: the node's own host part plus 100 (IPv4) or
	// 0x100 (IPv6), so 198.18.1.2 gives 198.18.1.102, or the next free one. Start
	// fails with ErrAddrInUse when an address, or the MAC, is a kernel's anywhere
	// in the lab or another userspace host's. Ignored in shared mode.
	Addrs []netip.Prefix
	// MAC is the host's own MAC; nil means one derived from the first address
	// (locally administered, 02:70:6b and the address's last three bytes).
	MAC net.HardwareAddr
	// Gateways are the next hops for destinations off-link (one per family).
	Gateways []netip.Addr
	// Shared uses the node's own addresses and MAC (see the package doc).
	Shared bool
	// TCP is the default configuration of every connection.
	TCP tcpstate.Config
	// NoGSO sends every segment as one frame of at most one MSS. By default the
	// host sends new data in segments of up to 64 KB through a second packet
	// socket with PACKET_VNET_HDR and lets the kernel's GSO cut them on the way
	// out, as the kernel does for its own sockets.
	NoGSO bool
	// Clock is the host's time: what its connections are told the time is, what
	// their timers and Conn deadlines run on, and what events are stamped with. Nil
	// means clock.Real. A test gives a clock.Manual to advance time instead of
	// sleeping; pktlab tcp --step a clock.Pausable that it pauses while it waits.
	Clock clock.Clock
	// Events, if set, receives every event, from the host's goroutines, in order.
	Events func(Event)
	// BeforeSend, if set, is called before each TCP frame the host sends (with
	// the host paused) and may block, e.g. until the user presses Enter. An error
	// aborts the send.
	BeforeSend func(Event) error
}

// Host is one userspace TCP endpoint on a node's interface.
type Host struct {
	// Set by Start, read-only after.
	cfg    Config
	clk    clock.Clock
	node   *testlab.Node
	iface  testlab.Interface
	sock   *rawsock.Conn
	gso    *gsoSocket // nil with Config.NoGSO
	mac    net.HardwareAddr
	addrs  []netip.Prefix
	gws    []netip.Addr
	claims *claims // own-address mode: the hold on addrs and mac
	fw     *firewall
	ctx    context.Context // ends when Close begins; the goroutines' lifetime
	cancel context.CancelFunc
	wg     sync.WaitGroup // the read and timer goroutines
	wake   chan struct{}  // pokes the timer goroutine

	// mu guards conns, listeners, ports, ruled, neigh, pending, ser, dec, timer,
	// timerAt, inFrame, holding, held, nextPort and closed; every connection's
	// machine and the fields of Conn and Listener their docs name; and the writes
	// to sock and gso (one frame goes out at a time, in the order the machines
	// produced them).
	mu        sync.Mutex
	conns     map[connKey]*Conn
	listeners map[uint16]*Listener
	ports     map[uint16]int  // local ports in use, by count
	ruled     map[uint16]bool // shared mode: ports whose kernel RSTs the firewall drops
	neigh     map[netip.Addr]net.HardwareAddr
	pending   map[netip.Addr]*pendingFrames
	ser       *serializer
	dec       *rawsock.Decoder
	timer     clock.Timer // wakes the timer goroutine at timerAt
	timerAt   time.Time
	inFrame   []byte // the frame being handled, for the events of its segment
	holding   bool   // Hold: TCP segments wait in held until Release
	held      []heldFrame
	nextPort  uint16
	closed    bool

	closeOnce sync.Once
	closeErr  error // set inside closeOnce
}

type connKey struct{ local, remote netip.AddrPort }

type heldFrame struct {
	data []byte
	at   time.Time
}

// Hold makes the host a slow reader of its input: from now on every TCP segment it
// receives is queued unprocessed until Release, while ARP and neighbour discovery go
// on and timers still fire. An experiment uses it to order events that a veth
// delivers too fast to stage otherwise, such as two SYNs crossing in a simultaneous
// open (EXPERIMENTS C5): the peer's SYN waits here while this host's own SYN leaves.
func (h *Host) Hold() {
	h.mu.Lock()
	h.holding = true
	h.mu.Unlock()
}

// Release processes the held segments in the order they arrived, then stops
// holding. It returns how many there were.
func (h *Host) Release() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holding = false
	held := h.held
	h.held = nil
	for _, f := range held {
		h.input(f.data, f.at)
	}
	return len(held)
}

// pendingFrames are the frames waiting for a neighbour's MAC, each with the event
// that reports it sent once it leaves.
type pendingFrames struct {
	frames []pendingFrame
	asked  time.Time
}

type pendingFrame struct {
	data []byte
	sent func(frame []byte, at time.Time) // nil if nothing reports it
}

// notOutgoing is a classic BPF filter that keeps the kernel from looping every frame
// the host sends back to its own packet socket (pkt_type PACKET_OUTGOING,
// packet(7)); without it each sent frame costs a copy and a wakeup of the reader.
var notOutgoing = []bpf.Instruction{
	bpf.LoadExtension{Num: bpf.ExtType},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 1},
	bpf.RetConstant{Val: 0x40000},
	bpf.RetConstant{Val: 0},
}

// Start opens the host on node n; a nil cfg means the zero Config. ctx bounds the
// start only, as a net.Dialer's does: if it ends first, Start undoes what it did
// and returns ctx's error. The host runs until Close.
func Start(ctx context.Context, n *testlab.Node, cfg *Config) (_ *Host, err error) {
	if cfg == nil {
		cfg = &Config{}
	}
	h := &Host{cfg: *cfg, clk: cfg.Clock, node: n, wake: make(chan struct{}, 1),
		conns: map[connKey]*Conn{}, listeners: map[uint16]*Listener{}, ports: map[uint16]int{}, ruled: map[uint16]bool{},
		neigh: map[netip.Addr]net.HardwareAddr{}, pending: map[netip.Addr]*pendingFrames{},
		ser: newSerializer(), dec: rawsock.NewDecoder(layers.LinkTypeEthernet)}
	if h.clk == nil {
		h.clk = clock.Real
	}
	defer func() {
		if err != nil {
			h.undoStart()
		}
	}()
	step := func() error {
		if ctx.Err() != nil {
			return fmt.Errorf("tcpstate/host: start on %s: %w", n.Name(), context.Cause(ctx))
		}
		return nil
	}
	if err := step(); err != nil {
		return nil, err
	}
	if err := h.setupInterface(); err != nil {
		return nil, err
	}
	if _, err := rand.Read(h.cfg.TCP.ISNSecret[:]); err != nil {
		return nil, fmt.Errorf("tcpstate/host: ISN secret: %w", err)
	}
	var b [2]byte
	rand.Read(b[:])
	h.nextPort = 49152 + (uint16(b[0])<<8|uint16(b[1]))%16384
	if err := step(); err != nil {
		return nil, err
	}
	if h.sock, err = rawsock.Open(n, h.iface.Name, &rawsock.Config{Filter: notOutgoing}); err != nil {
		return nil, err
	}
	if !h.cfg.NoGSO {
		if h.gso, err = openGSO(n, h.iface.Name); err != nil {
			return nil, err
		}
	}
	if err := step(); err != nil {
		return nil, err
	}
	if h.cfg.Shared {
		if h.fw, err = newFirewall(n); err != nil {
			return nil, err
		}
		h.hostEvent(EventFirewall, fmt.Sprintf("installed nftables table inet %s in node %s: the kernel's RSTs for the userspace ports are dropped", h.fw.table, n.Name()))
	}
	if err := step(); err != nil {
		return nil, err
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.wg.Add(2)
	go h.readLoop()
	go h.timerLoop()
	return h, nil
}

// undoStart releases what a failed Start took.
func (h *Host) undoStart() {
	if h.fw != nil {
		h.fw.remove()
		h.hostEvent(EventFirewall, fmt.Sprintf("removed nftables table inet %s from node %s", h.fw.table, h.node.Name()))
	}
	if h.gso != nil {
		h.gso.close()
	}
	if h.sock != nil {
		h.sock.Close()
	}
	if h.claims != nil {
		h.claims.release()
	}
}

func (h *Host) setupInterface() error {
	ifs := h.node.Interfaces()
	for _, i := range ifs {
		if h.cfg.Interface == "" || i.Name == h.cfg.Interface {
			h.iface = i
			break
		}
	}
	if h.iface.Name == "" {
		return fmt.Errorf("tcpstate/host: node %s has no interface %q", h.node.Name(), h.cfg.Interface)
	}
	h.gws = h.cfg.Gateways
	if len(h.gws) == 0 {
		for _, r := range h.node.Spec().Routes {
			if r.Dst.Bits() == 0 && r.Via.IsValid() {
				h.gws = append(h.gws, r.Via)
			}
		}
	}
	if h.cfg.Shared {
		h.mac = h.iface.MAC
		h.addrs = h.iface.Addrs
		return nil
	}
	for _, p := range h.cfg.Addrs {
		if !testlab.InLabRange(p.Addr()) {
			return fmt.Errorf("tcpstate/host: address %v is outside the lab ranges 198.18.0.0/15 and 2001:db8::/32", p.Addr())
		}
	}
	return h.ownAddresses()
}

// MAC returns the host's MAC address.
func (h *Host) MAC() net.HardwareAddr { return h.mac }

// Addrs returns the host's addresses with their prefixes: its own (the Config's or
// the derived defaults), or in shared mode the node's.
func (h *Host) Addrs() []netip.Prefix { return append([]netip.Prefix(nil), h.addrs...) }

// Addr returns the host's address of the family of peer (IPv4 or IPv6).
func (h *Host) Addr(v6 bool) (netip.Addr, bool) {
	for _, p := range h.addrs {
		if p.Addr().Is6() == v6 {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

func (h *Host) isOurs(a netip.Addr) bool {
	for _, p := range h.addrs {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// Close aborts every connection, stops the goroutines, closes the sockets, removes
// the firewall table and gives up the host's addresses. It is safe to call twice, and
// from any goroutine while others use the host.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		for _, c := range h.conns {
			if c.m.State() != tcpstate.Closed && c.m.State() != tcpstate.TimeWait {
				h.apply(c, c.m.Abort(h.clk.Now(), "host closed"))
			}
			c.notify()
		}
		for _, l := range h.listeners {
			l.closeLocked()
		}
		if h.timer != nil {
			h.timer.Stop()
		}
		h.mu.Unlock()
		h.cancel()
		errs := []error{h.sock.Close()}
		if h.gso != nil {
			errs = append(errs, h.gso.close())
		}
		h.wg.Wait()
		if h.fw != nil {
			errs = append(errs, h.fw.remove())
			h.hostEvent(EventFirewall, fmt.Sprintf("removed nftables table inet %s from node %s", h.fw.table, h.node.Name()))
		}
		if h.claims != nil {
			h.claims.release()
		}
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}

// readLoop reads frames until Close. After a read error it waits before the next
// read, longer after each (10 ms to 1 s), so that a lasting error such as an
// interface gone down does not spin.
func (h *Host) readLoop() {
	defer h.wg.Done()
	buf := make([]byte, 65536+14)
	backoff := 10 * time.Millisecond
	for {
		f, err := h.sock.ReadFrame(h.ctx, buf)
		if err != nil {
			if h.ctx.Err() != nil {
				return
			}
			h.hostEvent(EventError, fmt.Sprintf("read: %v", err))
			if !h.wait(backoff) {
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		if f.Type == rawsock.PacketOutgoing {
			continue
		}
		h.mu.Lock()
		h.input(f.Data, f.Time)
		h.mu.Unlock()
	}
}

// wait waits d on the host's clock; false if the host closed meanwhile.
func (h *Host) wait(d time.Duration) bool {
	done := make(chan struct{})
	t := h.clk.AfterFunc(d, func() { close(done) })
	defer t.Stop()
	select {
	case <-h.ctx.Done():
		return false
	case <-done:
		return true
	}
}

// timerLoop fires the machines' timers at the earliest deadline. A clock timer
// (h.timer) pokes h.wake at that deadline; schedule pokes it when a machine asks
// for an earlier one.
func (h *Host) timerLoop() {
	defer h.wg.Done()
	for {
		h.mu.Lock()
		now := h.clk.Now()
		next := time.Time{}
		for _, c := range h.conns {
			d := c.m.NextDeadline()
			if d.IsZero() {
				continue
			}
			if !d.After(now) {
				h.apply(c, c.m.OnTimer(now))
				d = c.m.NextDeadline()
				if d.IsZero() {
					continue
				}
			}
			if next.IsZero() || d.Before(next) {
				next = d
			}
		}
		h.reap()
		h.timerAt = next
		if !next.IsZero() && !h.closed {
			if h.timer == nil {
				h.timer = h.clk.AfterFunc(time.Hour, h.poke)
			}
			h.timer.ResetAt(next)
		}
		h.mu.Unlock()
		select {
		case <-h.ctx.Done():
			return
		case <-h.wake:
		}
	}
}

// poke wakes the timer goroutine.
func (h *Host) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// schedule wakes the timer goroutine if c's deadline is earlier than the one it
// waits for. Called with h.mu held.
func (h *Host) schedule(c *Conn) {
	d := c.m.NextDeadline()
	if d.IsZero() || (!h.timerAt.IsZero() && !d.Before(h.timerAt)) {
		return
	}
	h.timerAt = d
	h.poke()
}

// reap forgets connections that are over. Called with h.mu held.
func (h *Host) reap() {
	for k, c := range h.conns {
		if c.m.Done() {
			delete(h.conns, k)
			h.releasePort(k.local.Port())
			c.notify()
		}
	}
}

func (h *Host) usePort(p uint16) error {
	h.ports[p]++
	if h.fw != nil && !h.ruled[p] {
		if err := h.fw.dropRSTFrom(p); err != nil {
			return err
		}
		h.ruled[p] = true
		h.hostEvent(EventFirewall, fmt.Sprintf("nftables: drop the kernel's RSTs from tcp port %d in node %s", p, h.node.Name()))
	}
	return nil
}

func (h *Host) releasePort(p uint16) {
	if h.ports[p]--; h.ports[p] <= 0 {
		delete(h.ports, p)
	}
}

// ephemeralPort picks a free local port (RFC 6056 range 49152–65535).
func (h *Host) ephemeralPort() uint16 {
	for range 16384 {
		p := h.nextPort
		h.nextPort++
		if h.nextPort < 49152 {
			h.nextPort = 49152
		}
		if h.ports[p] == 0 && h.listeners[p] == nil {
			return p
		}
	}
	return 0
}
