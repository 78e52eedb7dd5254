package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pktlab/pktlab/agent"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/tcpstate/host"
	"github.com/pktlab/pktlab/timeline"
)

// usNode is pktlab's userspace TCP host on one node (tcpstate/host in shared mode: it
// uses the node's own address and MAC, and drops the kernel's RSTs for its ports), with
// the experiment's names for its connections. The states each went through are on the
// timeline, where us_state expectations read them.
type usNode struct {
	h *host.Host

	mu        sync.Mutex // guards conns, listeners and keys
	conns     map[string]*host.Conn
	listeners map[string]*host.Listener
	keys      map[string]usKey // connection name -> its addresses
}

type usKey struct{ local, remote netip.AddrPort }

// userspace returns the node's userspace host, starting it on first use.
func (r *run) userspace(ctx context.Context, node string) (*usNode, error) {
	// Looked up, started and stored under one lock: parallel branches on a node
	// would otherwise each start a host on its interface.
	r.usStart.Lock()
	defer r.usStart.Unlock()
	r.mu.Lock()
	u := r.us[node]
	r.mu.Unlock()
	if u != nil {
		return u, nil
	}
	u = &usNode{conns: map[string]*host.Conn{}, listeners: map[string]*host.Listener{}, keys: map[string]usKey{}}
	cfg := &host.Config{Shared: true, Events: func(e host.Event) { r.usEvent(node, e) }}
	h, err := host.Start(ctx, r.lab.Node(node), cfg)
	if err != nil {
		return nil, fmt.Errorf("start userspace TCP on %s: %w", node, err)
	}
	u.h = h
	r.mu.Lock()
	r.us[node] = u
	r.mu.Unlock()
	return u, nil
}

// usEvent records the host's state changes on the timeline.
func (r *run) usEvent(node string, e host.Event) {
	switch e.Kind {
	case host.EventTCP:
		if e.TCP.Kind != tcpstate.EventStateChanged {
			return
		}
		r.tl.Add(e.Time, node, &timeline.UserspaceState{Local: e.Local, Remote: e.Remote, From: e.TCP.From, To: e.TCP.To, Cause: e.TCP.Cause})
	case host.EventFirewall, host.EventError:
		r.tl.Note(e.Time, node, "[userspace TCP] "+e.Text)
	}
}

// usPath is the states the connection with these addresses went through on the
// node, the first one the initial, as the timeline recorded them.
func (r *run) usPath(node string, k usKey) []string {
	var path []string
	for _, e := range r.tl.Select(timeline.KindUserspaceState) {
		s := e.Data.(*timeline.UserspaceState)
		if e.Node != node || s.Local != k.local || s.Remote != k.remote {
			continue
		}
		if len(path) == 0 {
			path = []string{s.From.String()}
		}
		path = append(path, s.To.String())
	}
	return path
}

func (r *run) closeUserspace() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.us {
		u.h.Close()
	}
}

// usStep carries out a userspace TCP action and records it on the timeline as a Call,
// so call expectations read it like a kernel socket call.
func (r *run) usStep(ctx context.Context, s *Step) error {
	u, err := r.userspace(ctx, s.Node)
	if err != nil {
		return err
	}
	c := agent.Call{Start: time.Now(), Node: s.Node, Sock: s.Sock, Op: agent.Op(s.Action), Step: s.ID}
	sctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	var opErr error
	switch s.Action {
	case ActUSInput:
		// A slow host (tcpstate/host Hold): segments wait unprocessed, so that an
		// experiment can order events a veth delivers in microseconds.
		c.Args = s.Input
		if s.Input == "hold" {
			u.h.Hold()
		} else {
			c.Ret = u.h.Release()
			c.Info = fmt.Sprintf("%d held segment(s) processed", c.Ret)
		}
	case ActUSListen:
		c.Args = fmt.Sprintf("port %d, backlog %d", s.Userspace.Addr.Port(), s.Userspace.Backlog)
		l, err := u.h.Listen(s.Userspace.Addr.Port(), s.TCP, s.Userspace.Backlog)
		if err != nil {
			return err
		}
		u.mu.Lock()
		u.listeners[s.Sock] = l
		u.mu.Unlock()
	case ActUSDial:
		c.Args = s.Userspace.Addr.String()
		cn, err := u.h.DialWith(sctx, s.Userspace.Addr, &host.DialOptions{LocalPort: s.Userspace.Bind.Port(), TCP: s.TCP})
		opErr = err
		if cn != nil {
			u.name(s.Sock, cn)
			c.Info = "local " + cn.LocalAddr().String()
		}
	case ActUSAccept:
		c.Args = "→ " + s.Userspace.As
		u.mu.Lock()
		l := u.listeners[s.Sock]
		u.mu.Unlock()
		if l == nil {
			return fmt.Errorf("no userspace listener %q on %s", s.Sock, s.Node)
		}
		cn, err := l.AcceptContext(sctx)
		opErr = err
		if cn != nil {
			u.name(s.Userspace.As, cn)
			c.Info = "peer " + cn.RemoteAddr().String()
		}
	default:
		cn := u.conn(s.Sock)
		if cn == nil {
			return fmt.Errorf("no userspace connection %q on %s", s.Sock, s.Node)
		}
		deadline, _ := sctx.Deadline()
		opErr = usConnStep(s, cn, deadline, &c)
	}
	c.Dur = time.Since(c.Start)
	usResult(&c, opErr)
	r.tl.AddCall(c)
	return nil
}

// conn is the named connection, or nil.
func (u *usNode) conn(name string) *host.Conn {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.conns[name]
}

// usConnStep carries out an action on an established connection, filling in c.
func usConnStep(s *Step, cn *host.Conn, deadline time.Time, c *agent.Call) error {
	var opErr error
	switch s.Action {
	case ActUSSend:
		c.Args, c.Data = fmt.Sprintf("%d bytes", len(s.Userspace.Data)), s.Userspace.Data
		cn.SetWriteDeadline(deadline)
		c.Ret, opErr = cn.Write(s.Userspace.Data)
	case ActUSRecv:
		c.Args = fmt.Sprintf("max %d", s.Userspace.Size)
		cn.SetReadDeadline(deadline)
		buf := make([]byte, s.Userspace.Size)
		n, err := cn.Read(buf)
		c.Ret, c.Data, opErr = n, buf[:n], err
		if err == io.EOF {
			c.Info, opErr = "EOF", nil
		}
	case ActUSShutdown:
		opErr = cn.CloseWrite()
	case ActUSClose:
		opErr = cn.Close()
	case ActUSAbort:
		opErr = cn.Abort()
	case ActUSForget:
		// Nothing is sent and the peer is not told: its next segment finds no
		// connection (EXPERIMENTS E13).
		c.Args = "drop the TCB, send nothing"
		cn.Forget()
	default:
		return fmt.Errorf("action %s is not a userspace TCP action", s.Action)
	}
	return opErr
}

// usResult records how a userspace action ended as a call's result: blocked until
// its timeout, an errno, or another error's text.
func usResult(c *agent.Call, opErr error) {
	if opErr == nil {
		return
	}
	var en syscall.Errno
	switch {
	case errors.Is(opErr, os.ErrDeadlineExceeded) || errors.Is(opErr, context.DeadlineExceeded):
		c.Timed = true
	case errors.As(opErr, &en):
		c.Errno, c.Ret = en, -1
	default:
		c.Ret, c.Info = -1, opErr.Error()
	}
}

// name gives a connection its experiment name, adopting the states it went through
// before it had one.
func (u *usNode) name(n string, cn *host.Conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.conns[n] = cn
	local, _ := netip.ParseAddrPort(cn.LocalAddr().String())
	remote, _ := netip.ParseAddrPort(cn.RemoteAddr().String())
	u.keys[n] = usKey{local, remote}
}

// normState spells kernel and RFC state names one way: SYN-RECEIVED, SYN_RECV → SYN_RECV.
func normState(s string) string {
	s = strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
	switch s {
	case "SYN_RECEIVED":
		return "SYN_RECV"
	case "FIN_WAIT_1":
		return "FIN_WAIT1"
	case "FIN_WAIT_2":
		return "FIN_WAIT2"
	}
	return s
}

// checkUSState compares a userspace connection's state path (or current state).
func (r *run) checkUSState(m *USStateMatch) (want string, pass bool, seen string) {
	want = fmt.Sprintf("userspace connection %s on %s", m.Conn, m.Node)
	if m.Path != nil {
		want += " went " + strings.Join(m.Path, " → ")
	}
	if m.State != "" {
		want += " is in " + m.State
	}
	r.mu.Lock()
	u := r.us[m.Node]
	r.mu.Unlock()
	if u == nil {
		return want, false, "no userspace TCP ran on " + m.Node
	}
	u.mu.Lock()
	k, ok := u.keys[m.Conn]
	cn := u.conns[m.Conn]
	u.mu.Unlock()
	if !ok {
		return want, false, "no userspace connection named " + m.Conn
	}
	path := r.usPath(m.Node, k)
	cur := cn.State().String()
	seen = fmt.Sprintf("path %s; now %s", strings.Join(path, " → "), cur)
	pass = true
	if m.Path != nil {
		var a, b []string
		for _, s := range m.Path {
			a = append(a, normState(s))
		}
		for _, s := range path {
			b = append(b, normState(s))
		}
		pass = strings.Join(a, ",") == strings.Join(b, ",")
	}
	if m.State != "" && normState(m.State) != normState(cur) {
		pass = false
	}
	return want, pass, seen
}
