package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/tcpstate/clock"
)

// Conn is one userspace TCP connection. It satisfies net.Conn.
type Conn struct {
	// Set by newConn, read-only after.
	h      *Host
	key    connKey
	l      *Listener     // the listener that accepted it, if any
	rd, wr chan struct{} // poked whenever the machine did something

	// Guarded by h.mu.
	m         *tcpstate.Conn
	queued    bool // handed to the listener's accept queue
	linger    time.Duration
	lingerSet bool

	rdDL, wrDL deadline // each has its own lock
	closeOnce  sync.Once
}

func newConn(h *Host, m *tcpstate.Conn, l *Listener) *Conn {
	return &Conn{h: h, m: m, l: l, key: connKey{m.Local(), m.Remote()}, rd: make(chan struct{}, 1), wr: make(chan struct{}, 1),
		rdDL: makeDeadline(h.clk), wrDL: makeDeadline(h.clk)}
}

func (c *Conn) notify() {
	for _, ch := range []chan struct{}{c.rd, c.wr} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// DialOptions are the optional parts of DialWith.
type DialOptions struct {
	// LocalPort is the source port; 0 picks an ephemeral one.
	LocalPort uint16
	// TCP overrides the host's connection configuration.
	TCP *tcpstate.Config
}

// Dial opens a connection to remote and waits until it is established, fails, or
// ctx ends (which aborts it).
func (h *Host) Dial(ctx context.Context, remote netip.AddrPort) (*Conn, error) {
	return h.DialWith(ctx, remote, nil)
}

// DialWith is Dial with options.
func (h *Host) DialWith(ctx context.Context, remote netip.AddrPort, o *DialOptions) (*Conn, error) {
	if o == nil {
		o = &DialOptions{}
	}
	src, ok := h.Addr(remote.Addr().Is6())
	if !ok {
		return nil, h.opError("dial", remote, fmt.Errorf("the host has no address of %v's family", remote.Addr()))
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, h.opError("dial", remote, net.ErrClosed)
	}
	port := o.LocalPort
	if port == 0 {
		port = h.ephemeralPort()
	}
	cfg := h.connConfig(o.TCP, remote.Addr().Is6())
	key := connKey{netip.AddrPortFrom(src, port), remote}
	if _, dup := h.conns[key]; dup {
		h.mu.Unlock()
		return nil, h.opError("dial", remote, fmt.Errorf("connection from port %d exists already", port))
	}
	if err := h.usePort(port); err != nil {
		h.mu.Unlock()
		return nil, err
	}
	now := h.clk.Now() // after the firewall rule, so the timeline stays in order
	c := newConn(h, tcpstate.New(&cfg, key.local, remote, now), nil)
	h.conns[c.key] = c
	out, _ := c.m.Connect(now)
	h.apply(c, out)
	h.mu.Unlock()
	return c, c.waitEstablished(ctx)
}

// connConfig is the configuration of a new connection: over or the host's, with
// the host's ISN secret and an MSS from the interface MTU (RFC 9293 §3.7.1: MTU − 40
// for IPv4, − 60 for IPv6).
func (h *Host) connConfig(over *tcpstate.Config, v6 bool) tcpstate.Config {
	cfg := h.cfg.TCP
	if over != nil {
		cfg = *over
	}
	cfg.ISNSecret = h.cfg.TCP.ISNSecret
	if h.gso != nil && cfg.MaxSegment == 0 {
		cfg.MaxSegment = gsoMaxSegment
	}
	if cfg.MSS == 0 {
		mtu := h.iface.MTU
		if mtu == 0 {
			mtu = 1500
		}
		cfg.MSS = uint16(mtu - 40)
		if v6 {
			cfg.MSS -= 20
		}
	}
	return cfg
}

func (c *Conn) waitEstablished(ctx context.Context) error {
	for {
		c.h.mu.Lock()
		st, err := c.m.State(), c.m.Err()
		c.h.mu.Unlock()
		switch {
		case err != nil:
			return c.opError("dial", err)
		case st == tcpstate.Closed:
			return c.opError("dial", errors.New("connection closed"))
		case st != tcpstate.SynSent && st != tcpstate.SynReceived:
			return nil
		}
		select {
		case <-c.rd:
		case <-ctx.Done():
			c.Abort()
			return c.opError("dial", ctx.Err())
		}
	}
}

// Machine runs fn on the connection's state machine with the host paused, e.g. to
// read its Info or Stats.
func (c *Conn) Machine(fn func(*tcpstate.Conn)) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	fn(c.m)
}

// State returns the connection's state.
func (c *Conn) State() tcpstate.State {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	return c.m.State()
}

// Read reads received data; it returns io.EOF after the peer's FIN.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		c.h.mu.Lock()
		n, out := c.m.Read(c.h.clk.Now(), p)
		c.h.apply(c, out)
		eof, err, st := c.m.ReadClosed(), c.m.Err(), c.m.State()
		c.h.mu.Unlock()
		switch {
		case n > 0 || len(p) == 0:
			return n, nil
		case err != nil:
			return 0, c.opError("read", err)
		case eof:
			return 0, io.EOF
		case st == tcpstate.Closed || st == tcpstate.TimeWait:
			return 0, io.EOF
		}
		select {
		case <-c.rd:
		case <-c.rdDL.wait():
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
	}
}

// Write queues p for sending, blocking while the send buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	done := 0
	for {
		c.h.mu.Lock()
		n, out, err := c.m.Write(c.h.clk.Now(), p[done:])
		c.h.apply(c, out)
		c.h.mu.Unlock()
		done += n
		if err != nil {
			return done, c.opError("write", err)
		}
		if done == len(p) {
			return done, nil
		}
		select {
		case <-c.wr:
		case <-c.wrDL.wait():
			return done, c.opError("write", os.ErrDeadlineExceeded)
		}
	}
}

// CloseWrite sends a FIN after the queued data (shutdown(SHUT_WR)).
func (c *Conn) CloseWrite() error {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.h.apply(c, c.m.CloseWrite(c.h.clk.Now()))
	return nil
}

// Abort sends a RST and discards the connection.
func (c *Conn) Abort() error {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.h.apply(c, c.m.Abort(c.h.clk.Now(), "ABORT"))
	c.h.reap()
	return nil
}

// Forget drops the connection's state without sending anything, as a host that
// rebooted would (EXPERIMENTS E13): the peer's next segment finds no connection
// and is answered with a RST.
func (c *Conn) Forget() {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	if h := c.h; h.conns[c.key] == c {
		delete(h.conns, c.key)
		h.releasePort(c.key.local.Port())
	}
	c.notify()
}

// SetLinger is SO_LINGER: with sec 0, Close sends a RST; with sec > 0, Close waits up
// to sec seconds for the queued data to be acknowledged; with sec < 0 (the default)
// Close returns at once and the FIN goes in the background.
func (c *Conn) SetLinger(sec int) error {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.lingerSet = sec >= 0
	c.linger = time.Duration(sec) * time.Second
	return nil
}

// Close closes the connection (see SetLinger). It is safe to call twice.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.h.mu.Lock()
		if c.lingerSet && c.linger == 0 {
			c.h.apply(c, c.m.Abort(c.h.clk.Now(), "close with SO_LINGER {1, 0}"))
		} else {
			c.h.apply(c, c.m.Close(c.h.clk.Now()))
		}
		c.h.reap()
		c.h.mu.Unlock()
		c.rdDL.set(c.h.clk.Now())
		if c.lingerSet && c.linger > 0 {
			end := make(chan struct{})
			t := c.h.clk.AfterFunc(c.linger, func() { close(end) })
			defer t.Stop()
			for {
				c.h.mu.Lock()
				left := c.m.Unacknowledged()
				c.h.mu.Unlock()
				if left == 0 {
					break
				}
				select {
				case <-c.wr:
				case <-end:
					return
				}
			}
		}
	})
	return nil
}

func (c *Conn) LocalAddr() net.Addr  { return net.TCPAddrFromAddrPort(c.key.local) }
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.key.remote) }

func (c *Conn) SetDeadline(t time.Time) error {
	c.rdDL.set(t)
	c.wrDL.set(t)
	return nil
}
func (c *Conn) SetReadDeadline(t time.Time) error  { c.rdDL.set(t); return nil }
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wrDL.set(t); return nil }

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

func (h *Host) opError(op string, remote netip.AddrPort, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Addr: net.TCPAddrFromAddrPort(remote), Err: err}
}

// deadline is a settable deadline whose channel closes when it passes on the
// host's clock (the same scheme as net.Pipe).
type deadline struct {
	clk    clock.Clock
	mu     sync.Mutex // guards timer and cancel
	timer  clock.Timer
	cancel chan struct{}
}

func makeDeadline(clk clock.Clock) deadline { return deadline{clk: clk, cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer closed it; wait for that
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := clock.Until(d.clk, t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		ch := d.cancel
		d.timer = d.clk.AfterFunc(dur, func() { close(ch) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
