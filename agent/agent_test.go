package agent

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/labtest"
)

// These tests need no lab: they use the host's loopback 127.0.0.1 only, which the
// ground rules allow, and no privileges.

var loop = netip.MustParseAddr("127.0.0.1")

func newAgent(t *testing.T) *Agent {
	t.Helper()
	a := New(Config{Node: "test"})
	t.Cleanup(func() { a.Close() })
	return a
}

func ok(t *testing.T) func(Call, error) Call {
	t.Helper()
	return func(c Call, err error) Call {
		t.Helper()
		return must(t, c, err)
	}
}

func must(t *testing.T, c Call, err error) Call {
	t.Helper()
	if err != nil {
		t.Fatalf("%v", err)
	}
	if c.Errno != 0 {
		t.Fatalf("%s: unexpected errno", c)
	}
	return c
}

// listener opens a TCP listener on an ephemeral loopback port and returns its address.
func listener(t *testing.T, a *Agent, name string, backlog int) netip.AddrPort {
	t.Helper()
	ok(t)(a.Open(name, TCP, 4))
	ok(t)(a.Bind(name, netip.AddrPortFrom(loop, 0)))
	ok(t)(a.Listen(name, backlog))
	ap, err := a.LocalAddr(name)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// closedPort returns a loopback port with no listener: bound, then closed.
func closedPort(t *testing.T, a *Agent) netip.AddrPort {
	t.Helper()
	ap := listener(t, a, "tmp", 1)
	ok(t)(a.CloseSocket("tmp"))
	return ap
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestConnectErrno(t *testing.T) {
	a := newAgent(t)
	closed := closedPort(t, a)
	ok(t)(a.Open("c", TCP, 4))
	c, err := a.Connect(ctxT(t, 2*time.Second), "c", closed, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Errno != unix.ECONNREFUSED || c.ErrnoName() != "ECONNREFUSED" || c.Ret != -1 {
		t.Errorf("blocking connect to a closed port: got %s, want -1 ECONNREFUSED", c)
	}
}

func TestNonblockingConnect(t *testing.T) {
	a := newAgent(t)
	closed := closedPort(t, a)
	ok(t)(a.Open("c", TCP, 4))
	c, _ := a.Connect(ctxT(t, 2*time.Second), "c", closed, true)
	if c.Errno != unix.EINPROGRESS && c.Errno != unix.ECONNREFUSED {
		t.Fatalf("non-blocking connect: got %s, want EINPROGRESS (or ECONNREFUSED on loopback)", c)
	}
	if c.Errno == unix.EINPROGRESS {
		ev, _ := a.EpollWait(ctxT(t, time.Second), "c", Level, unix.EPOLLIN|unix.EPOLLOUT, time.Second)
		if ev.Ret != 1 || ev.Info != "EPOLLIN|EPOLLOUT|EPOLLERR|EPOLLHUP" {
			t.Errorf("failed non-blocking connect readiness: got %s, want EPOLLIN|EPOLLOUT|EPOLLERR|EPOLLHUP", ev)
		}
		se := ok(t)(a.SocketError("c"))
		if se.Info != "ECONNREFUSED" {
			t.Errorf("SO_ERROR after refused connect: got %s, want ECONNREFUSED", se)
		}
	}
	// Against a listener: EINPROGRESS then writable with SO_ERROR 0.
	ap := listener(t, a, "l", 4)
	ok(t)(a.Open("c2", TCP, 4))
	c, _ = a.Connect(ctxT(t, 2*time.Second), "c2", ap, true)
	if c.Errno != unix.EINPROGRESS {
		t.Fatalf("non-blocking connect to a listener: got %s, want EINPROGRESS", c)
	}
	ev, _ := a.EpollWait(ctxT(t, time.Second), "c2", Level, unix.EPOLLOUT, time.Second)
	if ev.Info != "EPOLLOUT" {
		t.Errorf("connected socket readiness: got %s, want EPOLLOUT", ev)
	}
	if se := ok(t)(a.SocketError("c2")); se.Info != "0" {
		t.Errorf("SO_ERROR after connect: got %s, want 0", se)
	}
}

func TestBindInUse(t *testing.T) {
	a := newAgent(t)
	ap := listener(t, a, "l", 1)
	ok(t)(a.Open("l2", TCP, 4))
	c, _ := a.Bind("l2", ap)
	if c.ErrnoName() != "EADDRINUSE" {
		t.Errorf("second bind to %s: got %s, want EADDRINUSE", ap, c)
	}
}

func TestTransferEOFAndEPIPE(t *testing.T) {
	a := newAgent(t)
	ap := listener(t, a, "l", 1)
	ctx := ctxT(t, 5*time.Second)
	ok(t)(a.Open("c", TCP, 4))
	ok(t)(a.Connect(ctx, "c", ap, false))
	acc := ok(t)(a.Accept(ctx, "l", "s"))
	if acc.Ret < 0 || acc.Info == "" {
		t.Errorf("accept: got %s, want a descriptor and a peer", acc)
	}
	ok(t)(a.Send(ctx, "c", []byte("hello"), nil, false))
	r := ok(t)(a.Recv(ctx, "s", 100, false))
	if string(r.Data) != "hello" || r.Ret != 5 {
		t.Errorf("recv: got %s, want 5 bytes \"hello\"", r)
	}
	// Nothing more: a bounded blocking recv is recorded as still blocked.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	r, _ = a.Recv(short, "s", 100, false)
	cancel()
	if !r.Timed || r.Errno != 0 {
		t.Errorf("recv with nothing to read: got %s, want still blocked", r)
	}
	r, _ = a.Recv(ctx, "s", 100, true)
	if r.ErrnoName() != "EAGAIN" {
		t.Errorf("non-blocking recv with nothing to read: got %s, want EAGAIN", r)
	}
	ok(t)(a.Shutdown("c", ShutWR))
	r = ok(t)(a.Recv(ctx, "s", 100, false))
	if r.Ret != 0 || r.Info != "EOF" {
		t.Errorf("recv after peer SHUT_WR: got %s, want 0 (EOF)", r)
	}
	// The server closes: the client's first write draws an RST, the next fails EPIPE
	// (tcp(7); MSG_NOSIGNAL turns SIGPIPE into the errno).
	ok(t)(a.CloseSocket("s"))
	// c has shut down writing already: a write fails EPIPE at once.
	w, _ := a.Send(ctx, "c", []byte("x"), nil, false)
	if w.ErrnoName() != "EPIPE" {
		t.Errorf("send after own SHUT_WR: got %s, want EPIPE", w)
	}
}

func TestWriteToClosedPeer(t *testing.T) {
	a := newAgent(t)
	ap := listener(t, a, "l", 1)
	ctx := ctxT(t, 5*time.Second)
	ok(t)(a.Open("c", TCP, 4))
	ok(t)(a.Connect(ctx, "c", ap, false))
	ok(t)(a.Accept(ctx, "l", "s"))
	ok(t)(a.CloseSocket("s"))
	w := ok(t)(a.Send(ctx, "c", []byte("first"), nil, false))
	if w.Ret != 5 {
		t.Errorf("first write to a closed peer: got %s, want 5 (queued; it draws the RST)", w)
	}
	// The peer's RST moves the socket to CLOSE (tcp_reset in net/ipv4/tcp_input.c);
	// TCP_INFO shows it without consuming the pending error as SO_ERROR would.
	c, err := a.lookup("c")
	if err != nil {
		t.Fatal(err)
	}
	labtest.Until(t, "the RST that the first write draws", func() (bool, error) {
		info, err := unix.GetsockoptTCPInfo(c.fd, unix.SOL_TCP, unix.TCP_INFO)
		return err == nil && info.State == unix.BPF_TCP_CLOSE, err
	})
	w, _ = a.Send(ctx, "c", []byte("second"), nil, false)
	if w.ErrnoName() != "EPIPE" && w.ErrnoName() != "ECONNRESET" {
		t.Errorf("second write: got %s, want EPIPE", w)
	}
	if w.ErrnoName() == "ECONNRESET" {
		// ECONNRESET is reported once; the next write is EPIPE.
		w, _ = a.Send(ctx, "c", []byte("third"), nil, false)
		if w.ErrnoName() != "EPIPE" {
			t.Errorf("third write: got %s, want EPIPE", w)
		}
	}
}

func TestShutdownNotConnected(t *testing.T) {
	a := newAgent(t)
	ok(t)(a.Open("c", TCP, 4))
	c, _ := a.Shutdown("c", ShutWR)
	if c.ErrnoName() != "ENOTCONN" {
		t.Errorf("shutdown of an unconnected socket: got %s, want ENOTCONN", c)
	}
	if _, err := a.Shutdown("nope", ShutWR); err == nil {
		t.Error("shutdown of an unknown socket name: got no error")
	}
}

func TestConnectedUDPRefused(t *testing.T) {
	a := newAgent(t)
	// A UDP port with no socket: bind one, note the port, close it.
	ok(t)(a.Open("tmp", UDP, 4))
	ok(t)(a.Bind("tmp", netip.AddrPortFrom(loop, 0)))
	dst, _ := a.LocalAddr("tmp")
	ok(t)(a.CloseSocket("tmp"))
	ctx := ctxT(t, 2*time.Second)

	// Unconnected: sendto succeeds and a later recv sees nothing (the ICMP port
	// unreachable is not reported to an unconnected socket, udp(7)).
	ok(t)(a.Open("u", UDP, 4))
	ok(t)(a.Send(ctx, "u", []byte("ping"), &dst, false))
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	r, _ := a.Recv(short, "u", 100, false)
	cancel()
	if !r.Timed || r.Errno != 0 {
		t.Errorf("unconnected UDP recv: got %s, want still blocked, no error", r)
	}
	// Connected: the ICMP error is reported as ECONNREFUSED.
	ok(t)(a.Open("cu", UDP, 4))
	ok(t)(a.Connect(ctx, "cu", dst, false))
	ok(t)(a.Send(ctx, "cu", []byte("ping"), nil, false))
	r, _ = a.Recv(ctx, "cu", 100, false)
	if r.ErrnoName() != "ECONNREFUSED" {
		t.Errorf("connected UDP recv after ICMP port unreachable: got %s, want ECONNREFUSED", r)
	}
}

func TestEpollEdgeVsLevel(t *testing.T) {
	a := newAgent(t)
	ap := listener(t, a, "l", 1)
	ctx := ctxT(t, 5*time.Second)
	ok(t)(a.Open("c", TCP, 4))
	ok(t)(a.Connect(ctx, "c", ap, false))
	ok(t)(a.Accept(ctx, "l", "s"))
	ok(t)(a.Send(ctx, "c", []byte("0123456789"), nil, false))
	in := uint32(unix.EPOLLIN | unix.EPOLLRDHUP)
	tests := []struct {
		name string
		mode EpollMode
		want string
	}{
		{"edge first wait", Edge, "EPOLLIN"},
		{"edge after partial read", Edge, "no events"},
		{"level after partial read", Level, "EPOLLIN"},
	}
	for _, tt := range tests {
		c := ok(t)(a.EpollWait(ctx, "s", tt.mode, in, 100*time.Millisecond))
		if c.Info != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, c, tt.want)
		}
		if tt.name == "edge first wait" {
			ok(t)(a.Recv(ctx, "s", 3, false))
		}
	}
	ok(t)(a.Shutdown("c", ShutWR))
	c := ok(t)(a.EpollWait(ctx, "s", Edge, in, time.Second))
	if c.Info != "EPOLLIN|EPOLLRDHUP" {
		t.Errorf("after peer SHUT_WR: got %s, want EPOLLIN|EPOLLRDHUP", c)
	}
}

func TestSetOptAndCallLog(t *testing.T) {
	a := newAgent(t)
	var emitted []Call
	a.cfg.Emit = func(c Call) { emitted = append(emitted, c) }
	ok(t)(a.Open("c", TCP, 4))
	for _, o := range []struct {
		o Opt
		v int
	}{{OptLinger, 0}, {OptReuseAddr, 1}, {OptNoDelay, 1}, {OptCork, 1}, {OptKeepAlive, 1}, {OptKeepIdle, 2}, {OptKeepIntvl, 1}, {OptKeepCnt, 3}, {OptRcvBuf, 4096}, {OptSndBuf, 4096}} {
		ok(t)(a.SetOpt("c", o.o, o.v))
	}
	c, _ := a.SetOpt("c", OptKeepIdle, 0)
	if c.ErrnoName() != "EINVAL" {
		t.Errorf("TCP_KEEPIDLE 0: got %s, want EINVAL", c)
	}
	if len(emitted) != 12 || len(a.Calls()) != 12 {
		t.Errorf("emitted %d calls, logged %d, want 12 each", len(emitted), len(a.Calls()))
	}
	if got := emitted[1].String(); got != "test c setsockopt(SO_LINGER {onoff 1, linger 0}) = 0" {
		t.Errorf("call string: got %q", got)
	}
}

func TestRecvWaitallAndOOB(t *testing.T) {
	a := newAgent(t)
	ap := listener(t, a, "l", 1)
	ctx := ctxT(t, 5*time.Second)
	ok(t)(a.Open("c", TCP, 4))
	ok(t)(a.Connect(ctx, "c", ap, false))
	ok(t)(a.Accept(ctx, "l", "s"))
	ok(t)(a.Send(ctx, "c", []byte("abc"), nil, false))
	// The second write goes once the MSG_WAITALL recv has taken the first three bytes
	// off the receive queue (SIOCINQ 0) and so waits for more: two segments, one recv.
	srv, err := a.lookup("s")
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		c   Call
		err error
	}
	recvd := make(chan result, 1)
	go func() {
		c, err := a.RecvFlags(ctx, "s", 8, false, unix.MSG_WAITALL)
		recvd <- result{c, err}
	}()
	labtest.Until(t, "the recv to take the first write", func() (bool, error) {
		n, err := unix.IoctlGetInt(srv.fd, unix.SIOCINQ)
		return err == nil && n == 0, err
	})
	ok(t)(a.Send(ctx, "c", []byte("defgh"), nil, false))
	res := <-recvd
	r := must(t, res.c, res.err)
	if string(r.Data) != "abcdefgh" || r.Args != "max 8, MSG_WAITALL" {
		t.Errorf("MSG_WAITALL recv: got %s, want all 8 bytes from two writes", r)
	}
	ok(t)(a.SendFlags(ctx, "c", []byte("xyz!"), nil, false, unix.MSG_OOB))
	r = ok(t)(a.RecvFlags(ctx, "s", 1, false, unix.MSG_OOB))
	if string(r.Data) != "!" {
		t.Errorf("MSG_OOB recv: got %s, want the last byte \"!\" (tcp(7): one byte of urgent data)", r)
	}
}

// TestWaitPastDeadline: a context whose deadline has passed but whose timer has not
// fired must not make poll(2) block (a negative timeout means forever).
func TestWaitPastDeadline(t *testing.T) {
	a := newAgent(t)
	ok(t)(a.Open("u", UDP, 4))
	ok(t)(a.Bind("u", netip.AddrPortFrom(loop, 0)))
	s, _ := a.lookup("u")
	ctx := deadlineOnly{time.Now().Add(-5 * time.Millisecond)}
	done := make(chan error, 1)
	go func() { _, err := waitFD(ctx, s.fd, unix.POLLIN); done <- err }()
	select {
	case err := <-done:
		if err != context.DeadlineExceeded {
			t.Errorf("waitFD past its deadline: %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(labtest.FailAfter): // only catches the bug: it returns at once
		t.Fatal("waitFD blocked past its deadline")
	}
}

// deadlineOnly is a context whose deadline has passed but which does not report it
// through Err, as a real context does for a moment on a loaded machine.
type deadlineOnly struct{ dl time.Time }

func (d deadlineOnly) Deadline() (time.Time, bool) { return d.dl, true }
func (d deadlineOnly) Done() <-chan struct{}       { return nil }
func (d deadlineOnly) Err() error                  { return nil }
func (d deadlineOnly) Value(key any) any           { return nil }

// TestSetOptNameCongestion sets TCP_CONGESTION by name and reads it back from the
// kernel: reno, which every process may choose; cubic, which this machine leaves out
// of tcp_allowed_congestion_control, so only CAP_NET_ADMIN may choose it per socket
// (EPERM otherwise); an algorithm the kernel lacks is ENOENT; a malformed name or a
// name given to a numeric option never reaches the kernel.
func TestSetOptNameCongestion(t *testing.T) {
	a := newAgent(t)
	ok(t)(a.Open("c", TCP, 4))
	fd := a.socks["c"].fd
	cc := func() string {
		t.Helper()
		v, err := unix.GetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c := ok(t)(a.SetOptName("c", OptCongestion, "reno"))
	if got := cc(); got != "reno" {
		t.Errorf("after %s the kernel says %q", c, got)
	}
	if got := c.String(); got != `test c setsockopt(TCP_CONGESTION "reno") = 0` {
		t.Errorf("call string: got %q", got)
	}
	c, err := a.SetOptName("c", OptCongestion, "cubic")
	if err != nil {
		t.Fatal(err)
	}
	if unix.Geteuid() == 0 {
		if c.Errno != 0 || cc() != "cubic" {
			t.Errorf("as root, %s; the kernel says %q, want cubic", c, cc())
		}
	} else if c.ErrnoName() != "EPERM" {
		t.Errorf("unprivileged cubic: got %s, want EPERM", c)
	}
	c, _ = a.SetOptName("c", OptCongestion, "pktlab_nosuch")
	if c.ErrnoName() != "ENOENT" {
		t.Errorf("unknown algorithm: got %s, want ENOENT", c)
	}
	for _, bad := range []string{"", "Cubic", "a b", "sixteen_chars_xx"} {
		if _, err := a.SetOptName("c", OptCongestion, bad); err == nil {
			t.Errorf("name %q was accepted", bad)
		}
	}
	if _, err := a.SetOpt("c", OptCongestion, 1); err == nil {
		t.Error("SetOpt took a number for TCP_CONGESTION")
	}
	if _, err := a.SetOptName("c", OptNoDelay, "reno"); err == nil {
		t.Error("SetOptName took a name for TCP_NODELAY")
	}
}

// TestForStep: the calls made through a step's view carry the step's id and land in
// the one record of the agent, on the sockets the agent holds.
func TestForStep(t *testing.T) {
	a := newAgent(t)
	var emitted []Call
	a.cfg.Emit = func(c Call) { emitted = append(emitted, c) }
	ok(t)(a.ForStep("open").Open("c", TCP, 4))
	ok(t)(a.SetOpt("c", OptNoDelay, 1))
	c, err := a.ForStep("bind").Bind("c", netip.AddrPortFrom(loop, 0))
	must(t, c, err)
	var got []string
	for _, c := range emitted {
		got = append(got, string(c.Op)+":"+c.Step)
	}
	want := []string{"socket:open", "setsockopt:", "bind:bind"}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(a.Calls()) != 3 {
		t.Errorf("calls by step: got %v, want %v; the agent logged %d", got, want, len(a.Calls()))
	}
}
