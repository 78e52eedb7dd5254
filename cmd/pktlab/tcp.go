package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/spf13/cobra"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/tcpstate/clock"
	"github.com/pktlab/pktlab/tcpstate/host"
	"github.com/pktlab/pktlab/testlab"
	"github.com/pktlab/pktlab/timeline"
)

func init() { rootCmd.AddCommand(newTCPCmd()) }

func newTCPCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "tcp",
		Short: "Drive a TCP connection from pktlab's userspace TCP and watch every frame and state",
		Long: `pktlab's userspace TCP (package tcpstate) runs on a lab node's interface through a packet
socket. By default it has an address and MAC of its own that the node's kernel does not
have (it answers ARP, neighbour solicitations and ping for them); with --shared it uses
the node's own address, and pktlab installs an nftables table in that node that drops the
kernel's RSTs for the userspace ports (the kernel has no socket for them), removed on exit.

The timeline shows every frame (tcpdump-style, relative sequence numbers), every state
change with its cause, and timers, with times relative to the start. A sent frame is
stamped when it leaves.

Own addresses: without --src the userspace host takes, in each lab subnet of the
interface, the node's own host part plus 100 (IPv4) or 0x100 (IPv6): a node at
198.18.1.2 gets 198.18.1.102 and 2001:db8:1::102, with MAC 02:70:6b:12:01:66 (the
address's last three bytes), so hosts on different nodes of one subnet never share an
address. An address or MAC that a node's kernel or another userspace host in the lab
already has is refused (exit 2 for --src; the default moves on to the next free one).

--step pauses before every frame the userspace end sends. While it waits for Enter the
userspace TCP's clock stands still: no timer of its own runs out because you paused,
and the times printed leave the pause out.

Ctrl-C (SIGINT) or SIGTERM ends the command at once: the connection is aborted with a
RST, the nftables table of --shared is removed, and pktlab exits 130 (SIGINT) or 143.`,
		Example: `  sudo pktlab tcp listen crs server 8080 --echo
  sudo pktlab tcp connect crs client 198.19.2.2:8080 --send notes.txt --shutdown-wr
  sudo pktlab tcp connect crs client 198.19.2.2:8080 --step`,
	}
	c.AddCommand(newTCPConnectCmd(), newTCPListenCmd())
	return c
}

// tcpFlags are the options both subcommands take.
type tcpFlags struct {
	src, iface, gateway   string
	shared                bool
	send, recv            string
	closeMode             string
	doClose, shutWR, abrt bool
	mss                   uint16
	noWScale, noSACK      bool
	noTS, nodelay         bool
	keepalive             bool
	timeWait              time.Duration
	linger                int
	asJSON, step          bool
	gso                   bool
	wait                  time.Duration
	pic                   pictureFlags
}

func (f *tcpFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.src, "src", "", "the userspace host's own address(es), comma-separated, with prefix (default: the node's host part + 100, or + 0x100 for IPv6)")
	fl.StringVar(&f.iface, "iface", "", "the node's interface (default: its first)")
	fl.StringVar(&f.gateway, "gateway", "", "next hop(s) for off-link destinations, comma-separated (default: the node's default routes)")
	fl.BoolVar(&f.shared, "shared", false, "use the node's own address; installs an nftables RST drop in the node")
	fl.StringVar(&f.send, "send", "", "send the contents of FILE (- for stdin)")
	fl.StringVar(&f.recv, "recv", "", "write received data to FILE (- for stdout)")
	fl.BoolVar(&f.doClose, "close", false, "close after sending (the default)")
	fl.BoolVar(&f.shutWR, "shutdown-wr", false, "half-close after sending and read until the peer closes")
	fl.BoolVar(&f.abrt, "abort", false, "abort with a RST after sending")
	fl.Uint16Var(&f.mss, "mss", 0, "MSS to advertise, 88 to 65495 (default: interface MTU − 40, − 60 for IPv6)")
	fl.BoolVar(&f.noWScale, "no-wscale", false, "do not offer window scaling")
	fl.BoolVar(&f.noSACK, "no-sack", false, "do not offer SACK")
	fl.BoolVar(&f.noTS, "no-timestamps", false, "do not offer timestamps")
	fl.BoolVar(&f.nodelay, "nodelay", false, "turn Nagle's algorithm off")
	fl.BoolVar(&f.keepalive, "keepalive", false, "send keepalive probes")
	fl.DurationVar(&f.timeWait, "time-wait", 0, "TIME-WAIT length, e.g. 1s (default 60s, as Linux)")
	fl.IntVar(&f.linger, "linger", -1, "SO_LINGER seconds for close, 0 to 3600; 0 sends RST")
	fl.BoolVar(&f.asJSON, "json", false, "print events as JSON lines")
	fl.BoolVar(&f.step, "step", false, "pause before every frame the userspace end sends until Enter")
	fl.DurationVar(&f.wait, "wait", 10*time.Second, "how long to wait for the connection to finish closing (more than 0)")
	f.pic.register(fl)
	fl.BoolVar(&f.gso, "gso", false, "send new data in segments of up to 64 KB cut by the kernel's GSO (fast; the timeline then shows those, not the wire frames)")
}

func (f *tcpFlags) validate() error {
	if err := f.pic.validate(); err != nil {
		return err
	}
	if f.pic.ladder && (f.asJSON || f.step) {
		return usageError("--ladder draws the connection once it ends; it does not go with --json or --step")
	}
	n := 0
	for _, b := range []bool{f.doClose, f.shutWR, f.abrt} {
		if b {
			n++
		}
	}
	if n > 1 {
		return usageError("--close, --shutdown-wr and --abort exclude each other")
	}
	if f.step && f.send == "-" {
		return usageError("--step reads Enter from stdin, so --send - cannot use it too")
	}
	if f.step && f.asJSON {
		return usageError("--step is interactive; it does not go with --json")
	}
	switch {
	case f.mss != 0 && (f.mss < 88 || f.mss > 65495):
		// 88 is Linux's TCP_MIN_MSS; 65495 fills a 64 KiB IPv4 packet.
		return usageError("--mss %d: want 88 to 65495, or 0 for the interface's MTU − 40", f.mss)
	case f.timeWait < 0:
		return usageError("--time-wait %v: want a positive duration such as 1s, or 0 for 60s", f.timeWait)
	case f.linger < -1 || f.linger > 3600:
		return usageError("--linger %d: want 0 to 3600 seconds (0 closes with a RST)", f.linger)
	case f.wait <= 0:
		return usageError("--wait %v: want how long to wait for the close, e.g. 10s", f.wait)
	}
	for _, s := range splitList(f.src) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return usageError("--src %q: want an address with prefix, e.g. 198.18.1.10/24: %v", s, err)
		}
		if !testlab.InLabRange(p.Addr()) {
			return usageError("--src %v is outside the lab ranges 198.18.0.0/15 and 2001:db8::/32", p.Addr())
		}
	}
	for _, g := range splitList(f.gateway) {
		if _, err := netip.ParseAddr(g); err != nil {
			return usageError("--gateway %q: %v", g, err)
		}
	}
	if f.shared && f.src != "" {
		return usageError("--shared uses the node's own address; it does not go with --src (or listen's ADDR)")
	}
	return nil
}

func (f *tcpFlags) tcpConfig() tcpstate.Config {
	return tcpstate.Config{MSS: f.mss, NoWindowScale: f.noWScale, NoSACK: f.noSACK, NoTimestamps: f.noTS,
		NoDelay: f.nodelay, Keepalive: f.keepalive, TimeWait: f.timeWait}
}

// hostConfig builds the host's configuration; validate has checked the flags.
func (f *tcpFlags) hostConfig(tl *tcpView) *host.Config {
	// Without --gso every frame in the timeline is a frame on the wire.
	cfg := &host.Config{Interface: f.iface, Shared: f.shared, TCP: f.tcpConfig(), Events: tl.event, NoGSO: !f.gso, Clock: tl.clk}
	if f.step {
		cfg.BeforeSend = tl.step
	}
	for _, g := range splitList(f.gateway) {
		cfg.Gateways = append(cfg.Gateways, netip.MustParseAddr(g))
	}
	for _, s := range splitList(f.src) {
		cfg.Addrs = append(cfg.Addrs, netip.MustParsePrefix(s))
	}
	return cfg
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func newTCPConnectCmd() *cobra.Command {
	var f tcpFlags
	c := &cobra.Command{
		Use:   "connect LAB NODE ADDR:PORT",
		Short: "Open a connection from the userspace TCP on NODE and show its timeline",
		Long: `Connects from the userspace TCP on NODE to ADDR:PORT, sends --send's data, then closes
(--close, the default), half-closes and reads until the peer closes (--shutdown-wr) or
aborts with a RST (--abort), and shows the connection until it is closed or in TIME-WAIT.
Exit status 1 if the connection fails (e.g. refused: ECONNREFUSED).`,
		Example: `  sudo pktlab tcp connect crs client 198.19.2.2:80
  sudo pktlab tcp connect crs client 198.19.2.2:80 --send request.txt --shutdown-wr --recv -
  sudo pktlab tcp connect crs client [2001:db8:2::2]:80 --no-sack --no-timestamps --json
  sudo pktlab tcp connect crs client 198.19.2.2:80 --shared --step`,
		Args: cobraArgs(cobra.ExactArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			remote, err := netip.ParseAddrPort(args[2])
			if err != nil {
				return usageError("ADDR:PORT %q: %v", args[2], err)
			}
			if !testlab.InLabRange(remote.Addr()) {
				return usageError("%v is outside the lab ranges 198.18.0.0/15 and 2001:db8::/32", remote.Addr())
			}
			return runTCP(cmd, &f, args[0], args[1], func(ctx context.Context, h *host.Host, tl *tcpView) error {
				c, err := h.Dial(ctx, remote)
				if err != nil {
					return err
				}
				return converse(ctx, &f, c, tl)
			})
		},
	}
	f.register(c)
	return c
}

func newTCPListenCmd() *cobra.Command {
	var f tcpFlags
	var echo bool
	c := &cobra.Command{
		Use:   "listen LAB NODE [ADDR:]PORT",
		Short: "Accept one connection on the userspace TCP on NODE and show its timeline",
		Long: `Listens on PORT of the userspace host (ADDR, if given, becomes its own address, as
--src), accepts one connection, echoes what it receives (--echo) or sends --send's data,
and closes when the peer closes (or as --close/--shutdown-wr/--abort say).`,
		Example: `  sudo pktlab tcp listen crs server 8080 --echo
  sudo pktlab tcp listen crs server 198.19.2.200:8080 --recv received.bin
  sudo pktlab tcp listen crs server 8080 --shared --json`,
		Args: cobraArgs(cobra.ExactArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			portStr := args[2]
			if i := strings.LastIndex(portStr, ":"); i >= 0 {
				a, err := netip.ParseAddr(strings.Trim(portStr[:i], "[]"))
				if err != nil {
					return usageError("ADDR %q: %v", portStr[:i], err)
				}
				bits := 24
				if a.Is6() {
					bits = 64
				}
				if f.src == "" {
					f.src = netip.PrefixFrom(a, bits).String()
				}
				portStr = portStr[i+1:]
			}
			port, err := strconv.ParseUint(portStr, 10, 16)
			if err != nil || port == 0 {
				return usageError("PORT %q: want 1-65535", portStr)
			}
			if err := f.validate(); err != nil {
				return err
			}
			return runTCP(cmd, &f, args[0], args[1], func(ctx context.Context, h *host.Host, tl *tcpView) error {
				cfg := f.tcpConfig()
				ln, err := h.Listen(uint16(port), &cfg, 0)
				if err != nil {
					return err
				}
				defer ln.Close()
				tl.note(fmt.Sprintf("listening on port %d of %v", port, ln.Addr()))
				c, err := ln.AcceptContext(ctx)
				if err != nil {
					return err
				}
				if echo {
					return echoConn(ctx, &f, c, tl)
				}
				if !f.doClose && !f.shutWR && !f.abrt && f.send == "" {
					f.shutWR = true // wait for the peer, then close
				}
				return converse(ctx, &f, c, tl)
			})
		},
	}
	f.register(c)
	c.Flags().BoolVar(&echo, "echo", false, "send back everything received; close when the peer closes")
	return c
}

// runTCP opens the lab and the host, runs fn and closes everything. A signal
// (ctx's end) closes the host at once, from under fn: its connections are aborted
// and its nftables table removed, and fn's blocked reads and writes return.
func runTCP(cmd *cobra.Command, f *tcpFlags, labName, nodeName string, fn func(context.Context, *host.Host, *tcpView) error) error {
	ctx := cmd.Context()
	l, n, err := openNode(labName, nodeName)
	if err != nil {
		return err
	}
	defer l.Release()
	iface := f.iface
	if iface == "" && len(n.Interfaces()) > 0 {
		iface = n.Interfaces()[0].Name // the host's default
	}
	tl := newTCPView(ctx, cmd.OutOrStdout(), f.asJSON, cmd.InOrStdin(), f.step, nodeName, iface)
	tl.lad = f.pic.newFrameLadder(cmd.OutOrStdout(), []string{nodeName})
	h, err := host.Start(ctx, n, f.hostConfig(tl))
	if errors.Is(err, host.ErrAddrInUse) {
		return usageError("%v", err)
	}
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { h.Close() })
	defer stop()
	if !f.shared {
		tl.note(fmt.Sprintf("userspace host on %s: %v, MAC %v", nodeName, h.Addrs(), h.MAC()))
	}
	runErr := fn(ctx, h, tl)
	closeErr := h.Close()
	if tl.lad != nil {
		closeErr = errors.Join(closeErr, tl.lad.draw(cmd.OutOrStdout()))
	}
	if se := interrupted(ctx); se != nil {
		return fmt.Errorf("%w: the userspace host on %s is closed (its connections aborted)", se, nodeName)
	}
	if runErr != nil {
		return runErr
	}
	return closeErr
}

// converse sends --send's data, then closes as asked and follows the connection
// until it is closed or in TIME-WAIT.
func converse(ctx context.Context, f *tcpFlags, c *host.Conn, tl *tcpView) error {
	if f.linger >= 0 {
		c.SetLinger(f.linger)
	}
	recvDone := make(chan error, 1)
	go func() { recvDone <- receive(f, c, tl) }()
	if f.send != "" {
		if err := sendFile(ctx, f.send, c); err != nil {
			c.Abort()
			return err
		}
	}
	switch {
	case f.abrt:
		c.Abort()
	case f.shutWR:
		c.CloseWrite()
		select {
		case <-recvDone:
		case <-ctx.Done():
		}
		c.Close()
	default:
		c.Close()
	}
	return waitFinished(ctx, c, f.wait)
}

func echoConn(ctx context.Context, f *tcpFlags, c *host.Conn, tl *tcpView) error {
	n, err := io.Copy(c, c)
	tl.note(fmt.Sprintf("echoed %d bytes", n))
	if err != nil {
		return err
	}
	c.Close()
	return waitFinished(ctx, c, f.wait)
}

func receive(f *tcpFlags, c *host.Conn, tl *tcpView) error {
	var w io.Writer = io.Discard
	switch f.recv {
	case "":
	case "-":
		w = os.Stdout
	default:
		file, err := os.Create(f.recv)
		if err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	n, err := io.Copy(w, c)
	tl.note(fmt.Sprintf("read %d bytes, then %s", n, eofText(err)))
	return err
}

func eofText(err error) string {
	if err == nil {
		return "end of file (the peer's FIN)"
	}
	return err.Error()
}

// sendFile sends the file's contents, or stdin's for "-", until its end or ctx's.
// A read of stdin cannot be interrupted (it is not in the runtime poller, and making
// it non-blocking would change the terminal or pipe for the shell too), so the copy
// runs in a goroutine that a signal leaves behind: the process is about to exit.
func sendFile(ctx context.Context, name string, c *host.Conn) error {
	var r io.Reader = os.Stdin
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return usageError("--send: %v", err)
		}
		defer file.Close()
		r = file
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, r)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// waitFinished waits until the connection is CLOSED or in TIME-WAIT.
func waitFinished(ctx context.Context, c *host.Conn, limit time.Duration) error {
	end := time.Now().Add(limit)
	for time.Now().Before(end) && ctx.Err() == nil {
		st := c.State()
		if st == tcpstate.Closed || st == tcpstate.TimeWait {
			var err error
			c.Machine(func(m *tcpstate.Conn) { err = m.Err() })
			if err != nil && !errors.Is(err, syscall.ECONNABORTED) { // our own --abort
				return err
			}
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("connection still %v after %v", c.State(), limit)
}

// tcpView shows the host's events as they happen, through a live timeline (the
// record pktlab run keeps, with one captured endpoint: the host's interface): frames
// with their tcpdump line and relative numbers, state changes with their RFC cause,
// timers and errors as notes; as text lines or JSON records (docs/json.md). Times are
// on the host's clock, relative to the start.
type tcpView struct {
	ctx    context.Context // ends a --step prompt
	clk    clock.Clock     // the host's: notes are stamped on it too
	pause  *clock.Pausable // with --step, clk: stopped while a prompt waits
	in     io.Reader
	asJSON bool
	w      io.Writer
	tl     *timeline.Timeline

	mu    sync.Mutex // guards sum, lines and writes to w
	sum   *rawsock.Summarizer
	lines chan string  // --step: lines read from in, by a goroutine started at the first prompt
	lad   *frameLadder // --ladder: events kept to draw at the end instead of printed
}

func newTCPView(ctx context.Context, w io.Writer, asJSON bool, in io.Reader, step bool, node, iface string) *tcpView {
	t := &tcpView{ctx: ctx, clk: clock.Real, w: w, asJSON: asJSON, sum: rawsock.NewSummarizer(), in: in}
	if step {
		t.pause = clock.NewPausable(clock.Real)
		t.clk = t.pause
	}
	t.tl = timeline.NewLive(t.clk.Now(), []timeline.Endpoint{{Node: node, Iface: iface, Peer: -1}}, t.show)
	return t
}

// show writes one event; the timeline calls it in order, one at a time.
func (t *tcpView) show(e timeline.Event) {
	t.mu.Lock() // not in the middle of a --step prompt
	defer t.mu.Unlock()
	if t.lad != nil {
		t.lad.event(e)
		return
	}
	if t.asJSON {
		timeline.WriteRecord(t.w, t.tl.Record(e))
		return
	}
	fmt.Fprintln(t.w, t.tl.Line(e))
}

// event puts a host event on the timeline.
func (t *tcpView) event(e host.Event) {
	node := t.tl.Endpoints[0].Node
	if e.Frame != nil {
		t.frame(e)
		return
	}
	switch {
	case e.Kind != host.EventTCP:
		t.tl.Note(e.Time, node, fmt.Sprintf("%s: %s", e.Kind, e.Text))
	case e.TCP.Kind == tcpstate.EventStateChanged:
		t.tl.Add(e.Time, node, &timeline.UserspaceState{Local: e.Local, Remote: e.Remote, From: e.TCP.From, To: e.TCP.To, Cause: e.TCP.Cause})
	case e.TCP.Kind == tcpstate.EventTimerFired:
		t.tl.Note(e.Time, node, "timer: "+e.TCP.Cause)
	case e.TCP.Kind == tcpstate.EventError:
		t.tl.Note(e.Time, node, fmt.Sprintf("error: %v (%s)", e.TCP.Err, e.TCP.Cause))
	default: // a segment event without its frame
		t.tl.Note(e.Time, node, fmt.Sprintf("%s: %v (%s)", e.TCP.Kind, e.TCP.Segment, e.TCP.Cause))
	}
}

// frame puts a frame the host sent or received on the timeline, with why the
// userspace TCP sent or dropped it.
func (t *tcpView) frame(e host.Event) {
	c := timeline.Captured{Time: e.Time, Data: e.Frame, Out: true}
	switch {
	case e.Kind != host.EventTCP: // a neighbour or ping reply
		c.Cause = fmt.Sprintf("%s: %s", e.Kind, e.Text)
	case e.TCP.Kind == tcpstate.EventSegmentReceived:
		c.Out = false
	case e.TCP.Kind == tcpstate.EventSegmentDropped:
		c.Out, c.Cause = false, "dropped: "+e.TCP.Cause
	default:
		c.Cause = e.TCP.Cause
	}
	t.mu.Lock()
	c.Line = t.sum.Append(nil, layers.LinkTypeEthernet, e.Frame)
	t.mu.Unlock()
	t.tl.AddFrame(c)
}

func (t *tcpView) note(text string) {
	t.tl.Note(t.clk.Now(), "", text)
}

// step shows the frame about to go and the connection's state, and waits for Enter
// with the host's clock stopped, so that the wait costs the connection no time: no
// retransmission timer runs out at the prompt. A signal ends the wait and the frame
// is not sent; at the end of stdin every frame goes without a prompt.
func (t *tcpView) step(e host.Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	summary := string(t.sum.Append(nil, layers.LinkTypeEthernet, e.Frame))
	i := e.Info
	fmt.Fprintf(t.w, "-- state %v  snd.una %d snd.nxt %d rcv.nxt %d (absolute)\n-- next: %s\n-- press Enter to send ", i.State, i.SndUna, i.SndNxt, i.RcvNxt, summary)
	if t.lines == nil {
		t.lines = make(chan string)
		go func() {
			defer close(t.lines)
			sc := bufio.NewScanner(t.in)
			for sc.Scan() {
				t.lines <- sc.Text()
			}
		}()
	}
	t.pause.Pause()
	defer t.pause.Resume()
	select {
	case <-t.lines: // a line, or the end of stdin
		return nil
	case <-t.ctx.Done():
		fmt.Fprintln(t.w)
		return context.Cause(t.ctx)
	}
}
