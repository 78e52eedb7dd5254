package host

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/pktlab/pktlab/tcpstate"
)

// DefaultBacklog is the accept queue length Listen uses for 0.
const DefaultBacklog = 128

// Listener accepts connections on one port of every host address. It satisfies
// net.Listener.
type Listener struct {
	// Set by Listen, read-only after.
	h       *Host
	port    uint16
	cfg     *tcpstate.Config
	backlog int
	q       chan *Conn    // established connections, for Accept
	done    chan struct{} // closed by Close

	closed bool // guarded by h.mu
}

// Listen starts accepting connections on port with the given configuration (nil:
// the host's) and accept-queue length (0: DefaultBacklog). Like Linux with a full
// queue, further SYNs are dropped.
func (h *Host) Listen(port uint16, cfg *tcpstate.Config, backlog int) (*Listener, error) {
	if backlog <= 0 {
		backlog = DefaultBacklog
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.listeners[port] != nil || h.ports[port] > 0 {
		return nil, fmt.Errorf("tcpstate/host: listen on port %d: address already in use", port)
	}
	if err := h.usePort(port); err != nil {
		return nil, err
	}
	l := &Listener{h: h, port: port, cfg: cfg, backlog: backlog, q: make(chan *Conn, backlog), done: make(chan struct{})}
	h.listeners[port] = l
	if h.cfg.Events != nil {
		for _, p := range h.addrs {
			local := netip.AddrPortFrom(p.Addr(), port)
			h.cfg.Events(Event{Time: h.clk.Now(), Kind: EventTCP, Local: local,
				TCP: tcpstate.Event{Time: h.clk.Now(), Kind: tcpstate.EventStateChanged, From: tcpstate.Closed, To: tcpstate.Listen, Cause: "passive OPEN"}})
		}
	}
	return l, nil
}

// synInput clones a connection in LISTEN for a SYN (RFC 9293 §3.10.7.2). Called with
// h.mu held.
func (l *Listener) synInput(local, remote netip.AddrPort, seg *tcpstate.Segment) {
	if len(l.q) >= l.backlog {
		return // accept queue full: ignore the SYN, the client retransmits (C7)
	}
	h := l.h
	now := h.clk.Now()
	cfg := h.connConfig(l.cfg, local.Addr().Is6())
	c := newConn(h, tcpstate.NewListening(&cfg, local, remote, now), l)
	h.conns[c.key] = c
	h.ports[local.Port()]++
	h.apply(c, c.m.HandleSegment(now, seg))
}

func (l *Listener) enqueue(c *Conn) {
	if st := c.m.State(); st == tcpstate.Listen || st == tcpstate.SynReceived || st == tcpstate.Closed && c.m.Err() == nil {
		return
	}
	c.queued = true
	if l.closed {
		return
	}
	select {
	case l.q <- c:
	default:
	}
}

// Accept waits for an established connection.
func (l *Listener) Accept() (net.Conn, error) { return l.AcceptContext(context.Background()) }

// AcceptContext waits for an established connection until ctx ends.
func (l *Listener) AcceptContext(ctx context.Context) (*Conn, error) {
	select {
	case c := <-l.q:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	case <-ctx.Done():
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: ctx.Err()}
	}
}

// Close stops listening; accepted and queued connections are left alone.
func (l *Listener) Close() error {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	l.closeLocked()
	return nil
}

func (l *Listener) closeLocked() {
	if l.closed {
		return
	}
	l.closed = true
	close(l.done)
	delete(l.h.listeners, l.port)
	l.h.releasePort(l.port)
}

// Addr returns the listening port on the host's first address.
func (l *Listener) Addr() net.Addr {
	a := netip.IPv4Unspecified()
	if len(l.h.addrs) > 0 {
		a = l.h.addrs[0].Addr()
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, l.port))
}
