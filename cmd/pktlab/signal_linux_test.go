//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/internal/privtest"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/sockdiag"
	"github.com/pktlab/pktlab/testlab"
)

// exitLimit is how long a test waits for pktlab to exit after a signal before it
// fails. It is generous on purpose, for a loaded machine; the time each run took is
// logged, and that is the figure measured against the one second issue 13 asks for.
const exitLimit = 15 * time.Second

// proc is a pktlab process run by a test, with its output gathered as it comes.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex // guards out
	out    bytes.Buffer
	more   chan struct{} // poked when output arrives
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

// start runs pktlab with args; the process is killed when the test ends.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(pktlabBin, args...), more: make(chan struct{}, 1), exited: make(chan struct{})}
	w := writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		p.out.Write(b)
		p.mu.Unlock()
		select {
		case p.more <- struct{}{}:
		default:
		}
		return len(b), nil
	})
	p.cmd.Stdout, p.cmd.Stderr = w, w
	// Killed with the test binary too, should a test time out (t.Cleanup then never
	// runs): a pktlab left waiting would hold its lab.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		p.stdin.Close()
	})
	return p
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the output holds s.
func (p *proc) waitFor(t *testing.T, s string) {
	t.Helper()
	limit := time.After(exitLimit)
	for !strings.Contains(p.output(), s) {
		select {
		case <-p.more:
		case <-p.exited:
			if !strings.Contains(p.output(), s) {
				t.Fatalf("pktlab exited (%v) before printing %q:\n%s", p.err, s, p.output())
			}
		case <-limit:
			t.Fatalf("pktlab did not print %q within %v:\n%s", s, exitLimit, p.output())
		}
	}
}

// answerPrompts presses Enter at every --step prompt, as a user would, until the
// process exits.
func (p *proc) answerPrompts() {
	for answered := 0; ; {
		if strings.Count(p.output(), "-- press Enter to send ") > answered {
			p.stdin.Write([]byte("\n"))
			answered++
			continue
		}
		select {
		case <-p.more:
		case <-p.exited:
			return
		}
	}
}

// signal sends sig and waits for the process to exit: it returns how long that took
// and the exit status.
func (p *proc) signal(t *testing.T, sig syscall.Signal) (time.Duration, int) {
	t.Helper()
	at := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(exitLimit):
		t.Fatalf("pktlab %v still running %v after %v:\n%s", p.cmd.Args[1:], exitLimit, sig, p.output())
	}
	took := time.Since(at)
	code := 0
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		code = ee.ExitCode()
	}
	t.Logf("%s: pktlab exited %d, %v after %v", t.Name(), code, took.Round(time.Microsecond), sig)
	return took, code
}

// kernelAccept accepts one connection on a kernel listener in node n.
func kernelAccept(t *testing.T, n *testlab.Node, addr string) <-chan net.Conn {
	t.Helper()
	var ln net.Listener
	if err := n.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(ch)
			return
		}
		t.Cleanup(func() { c.Close() })
		ch <- c
	}()
	return ch
}

func accepted(t *testing.T, ch <-chan net.Conn, p *proc) net.Conn {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("kernel accept failed")
		}
		return c
	case <-time.After(exitLimit):
		t.Fatalf("no connection reached the kernel listener:\n%s", p.output())
	}
	return nil
}

// wantReset waits for the kernel end of a connection to be reset by the peer.
func wantReset(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(exitLimit))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if errors.Is(err, syscall.ECONNRESET) {
			return
		}
		if err != nil {
			t.Fatalf("kernel read: %v, want ECONNRESET (the aborted connection's RST)", err)
		}
	}
}

func nftTables(t *testing.T, n *testlab.Node) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(n.NetNSFd()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseLasting()
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range tables {
		names = append(names, tb.Name)
	}
	return names
}

// TestTCPEndsOnSignal: pktlab tcp stops within a second of SIGINT or SIGTERM
// wherever it waits, and cleans up: the connection is aborted (the kernel peer sees
// the RST), the --shared nftables table is removed, the exit status is 128 + the
// signal. The cases are where it used to hang: reading --send - from a pipe that
// stays open, at a --step prompt, and in accept.
func TestTCPEndsOnSignal(t *testing.T) {
	lab := labtest.Start(t, tcpLab)
	client, server := lab.Node("client"), lab.Node("server")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run("connect --send - "+sig.String(), func(t *testing.T) {
			ch := kernelAccept(t, server, "198.18.1.3:8101")
			p := start(t, "tcp", "connect", lab.Name(), "client", "198.18.1.3:8101", "--send", "-")
			k := accepted(t, ch, p)
			p.stdin.Write([]byte("data before the signal\n")) // stdin stays open
			if _, err := io.ReadFull(k, make([]byte, 23)); err != nil {
				t.Fatal(err)
			}
			if _, code := p.signal(t, sig); code != 128+int(sig) {
				t.Errorf("exit %d, want %d:\n%s", code, 128+int(sig), p.output())
			}
			wantReset(t, k)
		})
	}
	t.Run("connect --shared --send - SIGINT", func(t *testing.T) {
		ch := kernelAccept(t, server, "198.18.1.3:8102")
		p := start(t, "tcp", "connect", lab.Name(), "client", "198.18.1.3:8102", "--shared", "--send", "-")
		k := accepted(t, ch, p)
		if tables := nftTables(t, client); !strings.Contains(strings.Join(tables, " "), "pktlab-tcp") {
			t.Fatalf("client tables %v: no pktlab-tcp while connected", tables)
		}
		if _, code := p.signal(t, syscall.SIGINT); code != 130 {
			t.Errorf("exit %d, want 130:\n%s", code, p.output())
		}
		wantReset(t, k)
		if tables := nftTables(t, client); strings.Contains(strings.Join(tables, " "), "pktlab-tcp") {
			t.Errorf("client tables %v after SIGINT: pktlab-tcp left behind", tables)
		}
	})
	t.Run("connect --step at the prompt SIGINT", func(t *testing.T) {
		kernelAccept(t, server, "198.18.1.3:8103")
		p := start(t, "tcp", "connect", lab.Name(), "client", "198.18.1.3:8103", "--step")
		p.waitFor(t, "-- press Enter to send ")
		if _, code := p.signal(t, syscall.SIGINT); code != 130 {
			t.Errorf("exit %d, want 130:\n%s", code, p.output())
		}
	})
	t.Run("listen SIGTERM", func(t *testing.T) {
		p := start(t, "tcp", "listen", lab.Name(), "server", "8104")
		p.waitFor(t, "listening on port 8104")
		if _, code := p.signal(t, syscall.SIGTERM); code != 143 {
			t.Errorf("exit %d, want 143:\n%s", code, p.output())
		}
	})
}

// TestCaptureAndSendEndOnSignal: capture ends within a second of SIGINT or SIGTERM
// with its counts and exit 0, as tcpdump; send between frames of -c, exit 128 + the
// signal, saying what it sent.
func TestCaptureAndSendEndOnSignal(t *testing.T) {
	lab := labtest.Start(t, tcpLab)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run("capture "+sig.String(), func(t *testing.T) {
			p := start(t, "capture", lab.Name(), "client:eth0", "server:eth0", "--promisc")
			p.waitFor(t, "capturing on")
			if _, code := p.signal(t, sig); code != 0 || !strings.Contains(p.output(), "frames captured") {
				t.Errorf("exit %d, want 0 with the counts:\n%s", code, p.output())
			}
		})
	}
	t.Run("send -c 1000 SIGINT", func(t *testing.T) {
		sniff, err := rawsock.Open(lab.Node("server"), "eth0", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sniff.Close()
		p := start(t, "send", lab.Name(), "client:eth0", "--udp", "--dport", "9", "--dst", "198.18.1.3", "--l3", "-c", "1000", "-i", "1s")
		ctx, cancel := context.WithTimeout(context.Background(), exitLimit)
		defer cancel()
		buf := make([]byte, 2048)
		for { // the first frame on the wire: send is between frames now
			f, err := sniff.ReadFrame(ctx, buf)
			if err != nil {
				t.Fatalf("no frame from send: %v\n%s", err, p.output())
			}
			if len(f.Data) > 23 && f.Data[23] == 17 {
				break
			}
		}
		if _, code := p.signal(t, syscall.SIGINT); code != 130 || !strings.Contains(p.output(), "sent client:eth0 IP 198.18.1.2.40000 > 198.18.1.3.9: UDP") {
			t.Errorf("exit %d, want 130 and the frame sent:\n%s", code, p.output())
		}
	})
}

// TestDecodeEndsOnSignal: decode stops between frames when signalled, even in the
// middle of a long file: here its output pipe is full (nobody reads it) when the
// signal comes, and decode ends as soon as that write completes.
func TestDecodeEndsOnSignal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := rawsock.NewPcapWriter(f, []rawsock.FileInterface{{Name: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	frame := bytes.Repeat([]byte{0xff}, 60)
	const n = 100000
	for range n {
		w.WriteFrame(0, &rawsock.Frame{Data: frame, Length: 60, Time: time.Unix(1700000000, 0)})
	}
	w.Flush()
	f.Close()
	cmd := exec.Command(pktlabBin, "decode", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	first := make([]byte, 1)
	if _, err := io.ReadFull(out, first); err != nil { // decode is under way
		t.Fatal(err)
	}
	at := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	rest, _ := io.ReadAll(out) // unblocks decode's write; ends when it exits
	err = cmd.Wait()
	t.Logf("decode exited (%v) %v after SIGINT", err, time.Since(at))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("decode after SIGINT: %v, want exit 130", err)
	}
	if lines := bytes.Count(rest, []byte("\n")) + 1; lines >= n {
		t.Errorf("decode printed all %d frames: it did not stop", lines)
	}
}

// fileFrames reads a capture file that may be cut anywhere: the frames of its whole
// records, and the error that ended the reading, if not the file's end.
func fileFrames(t *testing.T, path string) ([]string, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := rawsock.NewFileReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	s := rawsock.NewSummarizer()
	var out []string
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(s.Append(nil, f.Link, f.Data)))
	}
}

// TestCaptureFileSurvivesKill: capture -w writes out what it captured within half a
// second, so a SIGKILLed capture (no chance to flush) leaves a file that reads
// without error and holds every frame seen more than that before the kill.
func TestCaptureFileSurvivesKill(t *testing.T) {
	lab := labtest.Start(t, tcpLab)
	for _, format := range []string{"pcapng", "pcap"} {
		t.Run(format, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "kill."+format)
			args := []string{"capture", lab.Name(), "client:eth0", "-w", file, "--print", "-f", "icmp"}
			if format == "pcap" {
				args = append(args, "--pcap")
			}
			p := start(t, args...)
			p.waitFor(t, "capturing on")
			if _, errOut, code := run(t, "send", lab.Name(), "client:eth0", "--dst", "198.18.1.3", "--l3", "--expect", "icmp"); code != 0 {
				t.Fatalf("send: exit %d: %s", code, errOut)
			}
			p.waitFor(t, "ICMP echo reply")
			seen := time.Now()
			labtest.Until(t, "both frames in the file", func() (bool, error) {
				frames, err := fileFrames(t, file)
				return len(frames) >= 2, err
			})
			t.Logf("both frames in the file %v after capture printed them", time.Since(seen).Round(time.Millisecond))
			p.cmd.Process.Kill()
			<-p.exited
			frames, err := fileFrames(t, file)
			if err != nil || len(frames) != 2 || !strings.Contains(frames[0], "ICMP echo request") || !strings.Contains(frames[1], "ICMP echo reply") {
				t.Errorf("after SIGKILL the file reads %q, %v; want the request and the reply, whole", frames, err)
			}
		})
	}
}

// signals are the two that every command must honour.
var signals = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}

// runningLab waits until a lab created by process pid is up, as its state file says,
// and returns its name.
func runningLab(t *testing.T, pid int) string {
	t.Helper()
	var name string
	labtest.Until(t, fmt.Sprintf("a lab of process %d to be up", pid), func() (bool, error) {
		states, err := testlab.List()
		i := slices.IndexFunc(states, func(s *testlab.State) bool { return s.PID == pid && s.Up })
		if i >= 0 {
			name = states[i].Name
		}
		return i >= 0, err
	})
	return name
}

// listening reports whether a socket of namespace ns listens on port.
func listening(ns string, port uint16) (bool, error) {
	h, err := netns.GetFromPath(filepath.Join(testlab.NetnsDir, ns))
	if err != nil {
		return false, err
	}
	defer h.Close()
	socks, err := sockdiag.ListAt(int(h))
	return slices.ContainsFunc(socks, func(s sockdiag.Socket) bool {
		return s.State == sockdiag.Listen && s.Local.Port() == port
	}), err
}

// TestRunEndsOnSignal: pktlab run in the middle of an experiment (its server listens,
// a long sleep step is under way) ends at SIGINT or SIGTERM with exit 128 + the
// signal, the timeline so far, a line saying it was interrupted and no expectation
// failed (its end-of-run expectation is not checked), and removes its lab: no
// namespace, no state file.
func TestRunEndsOnSignal(t *testing.T) {
	exp := writeFile(t, "long.yaml", `lab:
  nodes:
    client: {interfaces: {eth0: [198.18.1.2/24]}}
    server: {interfaces: {eth0: [198.18.1.1/24]}}
  links:
    - [client:eth0, server:eth0]
steps:
  - {node: server, listen: l, addr: 198.18.1.1:80}
  - sleep: 5m
expect:
  - desc: a SYN, which only comes after the sleep (so it would fail if checked)
    frame: {on: client:eth0, proto: tcp, flags: S, count: 1}
`)
	privtest.Require(t)
	for _, sig := range signals {
		t.Run(sig.String(), func(t *testing.T) {
			p := start(t, "run", exp)
			name := runningLab(t, p.cmd.Process.Pid)
			t.Cleanup(func() { testlab.ForceDown(name) })
			labtest.Until(t, "the experiment's listener", func() (bool, error) {
				return listening(testlab.NamespaceName(name, "server"), 80)
			})
			if _, code := p.signal(t, sig); code != 128+int(sig) || !strings.Contains(p.output(), ": run interrupted: ") ||
				strings.Contains(p.output(), "=== PASS") || strings.Contains(p.output(), "FAIL") {
				t.Errorf("exit %d, want %d and the run reported interrupted, neither passed nor failed:\n%s", code, 128+int(sig), p.output())
			}
			if !strings.Contains(p.output(), "  --  server: listen l 198.18.1.1:80") {
				t.Errorf("the timeline so far is not in the output:\n%s", p.output())
			}
			if ns := namespacesOf(name); len(ns) != 0 {
				t.Errorf("namespaces %v left after %v", ns, sig)
			}
			if _, err := testlab.ReadState(name); err == nil {
				t.Errorf("state file of %s left after %v", name, sig)
			}
		})
	}
}

// TestNftTraceEndsOnSignal: nft trace, which runs until Ctrl-C, ends at SIGINT or
// SIGTERM as at its normal end (exit 0, the paths so far) and removes its trace table.
func TestNftTraceEndsOnSignal(t *testing.T) {
	lab := labtest.Start(t, tcpLab)
	server := lab.Node("server")
	for _, sig := range signals {
		t.Run(sig.String(), func(t *testing.T) {
			p := start(t, "nft", lab.Name(), "server", "trace", "-f", "udp dport 9")
			p.waitFor(t, "pktlab: tracing")
			if tables := nftTables(t, server); !slices.Contains(tables, filter.TraceTable) {
				t.Fatalf("server tables %v while tracing: no %s", tables, filter.TraceTable)
			}
			if _, code := p.signal(t, sig); code != 0 {
				t.Errorf("exit %d, want 0:\n%s", code, p.output())
			}
			if tables := nftTables(t, server); slices.Contains(tables, filter.TraceTable) {
				t.Errorf("server tables %v after %v: %s left behind", tables, sig, filter.TraceTable)
			}
		})
	}
}

// TestNatWatchEndsOnSignal: nat conntrack --watch, which runs until Ctrl-C, ends at
// SIGINT or SIGTERM with exit 0 once it has shown that it watches (an event printed).
func TestNatWatchEndsOnSignal(t *testing.T) {
	lab := labtest.Start(t, tcpLab)
	client := lab.Node("client")
	// Conntrack runs in a namespace only for rules that need it.
	rules := writeFile(t, "ct.nft", "table inet pktlab_ct {\n\tchain out {\n\t\ttype filter hook output priority filter; policy accept;\n\t\tct state new counter\n\t}\n}\n")
	if _, errOut, code := run(t, "nft", lab.Name(), "client", "apply", rules); code != 0 {
		t.Fatalf("nft apply: exit %d: %s", code, errOut)
	}
	for i, sig := range signals {
		t.Run(sig.String(), func(t *testing.T) {
			p := start(t, "nat", lab.Name(), "client", "conntrack", "--watch")
			labtest.Until(t, "the watch to join conntrack's event groups", func() (bool, error) {
				return subscribed(client)
			})
			port := 9000 + i
			labtest.SendUDP(t, client, fmt.Sprintf("198.18.1.3:%d", port))
			p.waitFor(t, fmt.Sprintf("dport=%d", port))
			if _, code := p.signal(t, sig); code != 0 {
				t.Errorf("exit %d, want 0:\n%s", code, p.output())
			}
		})
	}
}

// subscribed reports whether a NETLINK_NETFILTER socket in node n has joined a
// multicast group (conntrack events), as the node's /proc/net/netlink lists it.
func subscribed(n *testlab.Node) (bool, error) {
	var b []byte
	err := n.Do(func() (err error) { b, err = os.ReadFile("/proc/thread-self/net/netlink"); return err })
	for _, l := range strings.Split(string(b), "\n")[1:] {
		// sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
		if f := strings.Fields(l); len(f) > 3 && f[1] == strconv.Itoa(unix.NETLINK_NETFILTER) && strings.Trim(f[3], "0") != "" {
			return true, err
		}
	}
	return false, err
}

// TestLabExecEndsOnSignal: lab exec ends at SIGINT or SIGTERM with exit 128 + the
// signal, and the command it ran in the node is gone with it.
func TestLabExecEndsOnSignal(t *testing.T) {
	lab := labtest.Start(t, tcpLab)
	for _, sig := range signals {
		t.Run(sig.String(), func(t *testing.T) {
			p := start(t, "lab", "exec", lab.Name(), "client", "--", "sleep", "600")
			pid := p.cmd.Process.Pid
			var child int
			// A child is listed under the thread that forked it (proc(5)), here the one
			// locked in the node's namespace.
			labtest.Until(t, "lab exec to start its command", func() (bool, error) {
				files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
				for _, f := range files {
					if b, _ := os.ReadFile(f); len(b) > 0 {
						_, err := fmt.Sscan(string(b), &child)
						return err == nil, err
					}
				}
				return false, err
			})
			if _, code := p.signal(t, sig); code != 128+int(sig) {
				t.Errorf("exit %d, want %d:\n%s", code, 128+int(sig), p.output())
			}
			// The child was killed and reaped by lab exec before it exited.
			if err := syscall.Kill(child, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("the command (pid %d) outlived lab exec: kill -0 = %v", child, err)
			}
		})
	}
}
