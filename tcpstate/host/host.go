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
	"github.com/pktlab/pktlab/testlab"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Config says how a host attaches to a node. A nil *Config means own-address mode
// is impossible to guess, so Start requires one.
type Config struct {
	// Interface is the node's interface to use; "" means its first interface.
	Interface string
	// Addrs are the host's own addresses with their prefix (on-link range), e.g.
	// 198.18.1.10/24 and 2001:db8:1::10/64. Empty in shared mode.
	Addrs []netip.Prefix
	// MAC is the host's own MAC; nil means one derived from the first address
	// (locally administered, 02:70:6b:…).
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
	// Events, if set, receives every event, from the host's goroutines, in order.
	Events func(Event)
	// BeforeSend, if set, is called before each TCP frame the host sends (with
	// the host paused) and may block, e.g. until the user presses Enter. An error
	// aborts the send.
	BeforeSend func(Event) error
}

// Host is one userspace TCP endpoint on a node's interface.
type Host struct {
	cfg    Config
	node   *testlab.Node
	iface  testlab.Interface
	sock   *rawsock.Conn
	gso    *gsoSocket // nil with Config.NoGSO
	mac    net.HardwareAddr
	addrs  []netip.Prefix
	gws    []netip.Addr
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}
	fw     *firewall

	mu        sync.Mutex // guards everything below, and every machine
	conns     map[connKey]*Conn
	listeners map[uint16]*Listener
	ports     map[uint16]int  // local ports in use, by count
	ruled     map[uint16]bool // shared mode: ports whose kernel RSTs the firewall drops
	neigh     map[netip.Addr]net.HardwareAddr
	pending   map[netip.Addr]*pendingFrames
	ser       *serializer
	dec       *rawsock.Decoder
	timerAt   time.Time
	inFrame   []byte // the frame being handled, for the events of its segment
	holding   bool   // Hold: TCP segments wait in held until Release
	held      []heldFrame
	nextPort  uint16
	closed    bool

	closeOnce sync.Once
	closeErr  error
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

type pendingFrames struct {
	frames [][]byte
	asked  time.Time
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

// Start opens the host on node n.
func Start(ctx context.Context, n *testlab.Node, cfg *Config) (*Host, error) {
	if cfg == nil {
		cfg = &Config{Shared: true}
	}
	h := &Host{cfg: *cfg, node: n, wake: make(chan struct{}, 1),
		conns: map[connKey]*Conn{}, listeners: map[uint16]*Listener{}, ports: map[uint16]int{}, ruled: map[uint16]bool{},
		neigh: map[netip.Addr]net.HardwareAddr{}, pending: map[netip.Addr]*pendingFrames{},
		ser: newSerializer(), dec: rawsock.NewDecoder(layers.LinkTypeEthernet)}
	if err := h.setupInterface(); err != nil {
		return nil, err
	}
	if _, err := rand.Read(h.cfg.TCP.ISNSecret[:]); err != nil {
		return nil, fmt.Errorf("tcpstate/host: ISN secret: %w", err)
	}
	var b [2]byte
	rand.Read(b[:])
	h.nextPort = 49152 + (uint16(b[0])<<8|uint16(b[1]))%16384
	sock, err := rawsock.Open(n, h.iface.Name, &rawsock.Config{Filter: notOutgoing})
	if err != nil {
		return nil, err
	}
	h.sock = sock
	if !h.cfg.NoGSO {
		if h.gso, err = openGSO(n, h.iface.Name); err != nil {
			sock.Close()
			return nil, err
		}
	}
	if h.cfg.Shared {
		fw, err := newFirewall(n)
		if err != nil {
			sock.Close()
			return nil, err
		}
		h.fw = fw
		h.hostEvent(EventFirewall, fmt.Sprintf("installed nftables table inet %s in node %s: the kernel's RSTs for the userspace ports are dropped", fw.table, n.Name()))
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.wg.Add(2)
	go h.readLoop()
	go h.timerLoop()
	return h, nil
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
	if h.cfg.Shared {
		h.mac = h.iface.MAC
		h.addrs = h.iface.Addrs
		if len(h.gws) == 0 {
			for _, r := range h.node.Spec().Routes {
				if r.Dst.Bits() == 0 && r.Via.IsValid() {
					h.gws = append(h.gws, r.Via)
				}
			}
		}
		return nil
	}
	if len(h.cfg.Addrs) == 0 {
		return fmt.Errorf("tcpstate/host: own-address mode on %s:%s needs addresses (e.g. 198.18.1.10/24); use shared mode to borrow the node's", h.node.Name(), h.iface.Name)
	}
	h.addrs = h.cfg.Addrs
	for _, p := range h.addrs {
		if !testlab.InLabRange(p.Addr()) {
			return fmt.Errorf("tcpstate/host: address %v is outside the lab ranges 198.18.0.0/15 and 2001:db8::/32", p.Addr())
		}
		for _, ka := range h.iface.Addrs {
			if ka.Addr() == p.Addr() {
				return fmt.Errorf("tcpstate/host: %v belongs to node %s's kernel; pick another address or use shared mode", p.Addr(), h.node.Name())
			}
		}
	}
	h.mac = h.cfg.MAC
	if h.mac == nil {
		a := h.addrs[0].Addr().As16()
		h.mac = net.HardwareAddr{0x02, 0x70, 0x6b, a[13], a[14], a[15]}
	}
	if len(h.gws) == 0 {
		for _, r := range h.node.Spec().Routes {
			if r.Dst.Bits() == 0 && r.Via.IsValid() {
				h.gws = append(h.gws, r.Via)
			}
		}
	}
	return nil
}

// MAC returns the host's MAC address.
func (h *Host) MAC() net.HardwareAddr { return h.mac }

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

// Close aborts every connection, stops the goroutines, closes the socket and removes
// the firewall table. It is safe to call twice.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		for _, c := range h.conns {
			if c.m.State() != tcpstate.Closed && c.m.State() != tcpstate.TimeWait {
				h.apply(c, c.m.Abort(time.Now(), "host closed"))
			}
			c.notify()
		}
		for _, l := range h.listeners {
			l.closeLocked()
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
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}

func (h *Host) readLoop() {
	defer h.wg.Done()
	buf := make([]byte, 65536+14)
	for {
		f, err := h.sock.ReadFrame(h.ctx, buf)
		if err != nil {
			if h.ctx.Err() != nil {
				return
			}
			h.hostEvent(EventError, fmt.Sprintf("read: %v", err))
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if f.Type == rawsock.PacketOutgoing {
			continue
		}
		h.mu.Lock()
		h.input(f.Data, f.Time)
		h.mu.Unlock()
	}
}

// timerLoop fires the machines' timers at the earliest deadline.
func (h *Host) timerLoop() {
	defer h.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		h.mu.Lock()
		now := time.Now()
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
		h.mu.Unlock()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		t.Reset(wait)
		select {
		case <-h.ctx.Done():
			return
		case <-h.wake:
			if !t.Stop() {
				<-t.C
			}
		case <-t.C:
		}
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
	select {
	case h.wake <- struct{}{}:
	default:
	}
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
