package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/testlab"
)

const tcpLab = `
nodes:
  client:
    interfaces:
      eth0: [198.18.1.2/24, 2001:db8:1::2/64]
  server:
    interfaces:
      eth0: [198.18.1.3/24, 2001:db8:1::3/64]
links:
  - [client:eth0, server:eth0]
`

// upperServer is a kernel server in node n that answers each connection with its
// input in upper case after the client's FIN.
func upperServer(t *testing.T, n *testlab.Node, addr string) {
	t.Helper()
	var ln net.Listener
	if err := n.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(c)
			c.Write([]byte(strings.ToUpper(string(b))))
			c.Close()
		}
	}()
}

// tcpLine is the part of a JSON record (docs/json.md) the tests read.
type tcpLine struct {
	Type  string
	Frame struct {
		Dir, Summary, Cause string
	}
	State struct {
		From, To, Cause string
	} `json:"userspace_state"`
}

func parseTCPLines(t *testing.T, out string) []tcpLine {
	var lines []tcpLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l tcpLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestTCPConnectJSON(t *testing.T) {
	lab := labtest.Start(t, tcpLab)
	upperServer(t, lab.Node("server"), "198.18.1.3:8080")
	msg := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(msg, []byte("hello"), 0o644)
	recv := filepath.Join(t.TempDir(), "recv")
	out, stderr, code := run(t, "tcp", "connect", lab.Name(), "client", "198.18.1.3:8080", "--json",
		"--send", msg, "--shutdown-wr", "--recv", recv, "--time-wait", "1s")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	checkSchema(t, "tcp connect --json", out, "frame", "userspace_state", "note")
	var path []string
	var syn bool
	for _, l := range parseTCPLines(t, out) {
		if l.Type == "userspace_state" {
			path = append(path, l.State.To)
		}
		if l.Type == "frame" && l.Frame.Dir == "out" && strings.Contains(l.Frame.Summary, "Flags [S]") && strings.Contains(l.Frame.Summary, "198.18.1.102.") {
			syn = true
		}
	}
	// TIME-WAIT lasts 1 s here: on a loaded machine it can end (CLOSED) before the
	// command has finished writing --recv and exits, so a last CLOSED may follow.
	want := "SYN-SENT ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT"
	if got := strings.Join(path, " "); got != want && got != want+" CLOSED" {
		t.Errorf("state path %v, want %s (then CLOSED if TIME-WAIT ended first)", path, want)
	}
	if !syn {
		t.Errorf("no SYN frame summary from the own address:\n%s", out)
	}
	if b, _ := os.ReadFile(recv); string(b) != "HELLO" {
		t.Errorf("received %q, want HELLO", b)
	}
}

func TestTCPConnectRefusedAndBadInput(t *testing.T) {
	lab := labtest.Start(t, tcpLab)
	out, stderr, code := run(t, "tcp", "connect", lab.Name(), "client", "198.18.1.3:9")
	if code != 1 || !strings.Contains(stderr, "connection refused") {
		t.Errorf("refused: exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(out, "SYN-SENT → CLOSED: RST acknowledges our SYN") {
		t.Errorf("timeline does not explain the refusal:\n%s", out)
	}
	for _, args := range [][]string{
		{"tcp", "connect", lab.Name(), "client", "10.0.0.1:80"},
		{"tcp", "connect", lab.Name(), "client", "198.18.1.3"},
		{"tcp", "connect", lab.Name(), "client", "198.18.1.3:80", "--close", "--abort"},
		{"tcp", "listen", lab.Name(), "client", "0"},
	} {
		if _, stderr, code := run(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
}

func TestTCPListenEchoAndStep(t *testing.T) {
	lab := labtest.Start(t, tcpLab)
	p := start(t, "tcp", "listen", lab.Name(), "server", "198.18.1.200:7000", "--echo", "--step", "--time-wait", "1s")
	p.waitFor(t, "listening on port 7000 of 198.18.1.200")
	go p.answerPrompts()
	var c net.Conn
	err := lab.Node("client").Do(func() (err error) {
		c, err = net.DialTimeout("tcp", "198.18.1.200:7000", exitLimit)
		return
	})
	if err != nil {
		t.Fatalf("kernel dial: %v\n%s", err, p.output())
	}
	c.SetDeadline(time.Now().Add(exitLimit))
	c.Write([]byte("echo me"))
	c.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(c)
	c.Close()
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("listen: %v\n%s", p.err, p.output())
		}
	case <-time.After(exitLimit):
		t.Fatalf("listen did not finish:\n%s", p.output())
	}
	if string(got) != "echo me" {
		t.Errorf("echo %q", got)
	}
	s := p.output()
	for _, want := range []string{"LISTEN → SYN-RECEIVED", "press Enter to send", "-- next: IP 198.18.1.200.7000 > 198.18.1.2.", "ESTABLISHED → CLOSE-WAIT"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

// TestTCPDefaultAddressesPerNode: tcp listen and tcp connect on two nodes of one
// subnet take two addresses, each derived from its node (client 198.18.1.2 gives
// .102, server .3 gives .103), and talk; an address a running host or a kernel
// already has is refused with exit 2, naming who has it.
func TestTCPDefaultAddressesPerNode(t *testing.T) {
	lab := labtest.Start(t, tcpLab)
	ln := start(t, "tcp", "listen", lab.Name(), "server", "8200", "--echo", "--time-wait", "1s")
	ln.waitFor(t, "listening on port 8200 of 198.18.1.103")
	if !strings.Contains(ln.output(), "userspace host on server: [198.18.1.103/24 2001:db8:1::103/64], MAC 02:70:6b:12:01:67") {
		t.Errorf("listen's host:\n%s", ln.output())
	}
	// While the listener runs, its address is taken.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tcp", "listen", lab.Name(), "client", "198.18.1.103:9000"}, "198.18.1.103: another userspace host (pid "},
		{[]string{"tcp", "connect", lab.Name(), "client", "198.18.1.3:80", "--src", "198.18.1.3/24"}, "198.18.1.3: node server's kernel (eth0) has it"},
	} {
		p := start(t, c.args...) // not run: a clash missed would wait for ever
		select {
		case <-p.exited:
		case <-time.After(exitLimit):
			t.Fatalf("%v still running after %v: the clash was missed:\n%s", c.args, exitLimit, p.output())
		}
		var ee *exec.ExitError
		if !errors.As(p.err, &ee) || ee.ExitCode() != 2 || !strings.Contains(p.output(), c.want) {
			t.Errorf("%v: %v, output %q; want exit 2 and %q", c.args, p.err, p.output(), c.want)
		}
	}
	msg := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(msg, []byte("hello"), 0o644)
	out, stderr, code := run(t, "tcp", "connect", lab.Name(), "client", "198.18.1.103:8200", "--send", msg, "--shutdown-wr", "--recv", "-", "--time-wait", "1s")
	if code != 0 || !strings.Contains(out, "userspace host on client: [198.18.1.102/24 2001:db8:1::102/64], MAC 02:70:6b:12:01:66") ||
		!strings.Contains(out, "IP 198.18.1.102.") {
		t.Errorf("connect: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "hello") {
		t.Errorf("connect did not get its echo:\n%s", out)
	}
}

// TestTCPStepFreezesTime: at a --step prompt the userspace TCP's clock stands
// still. The test waits at the first prompt (the SYN) longer than the initial
// retransmission timeout (1 s): no retransmission follows, the SYN goes once, and
// the timeline leaves the wait out (the SYN-ACK arrives within the first second).
//
// The kernel measures the wait: a kernel connect started in the same node once the
// prompt is up, to a port whose SYNs the server drops, retransmits its SYN after the
// same initial 1 s (TCP_TIMEOUT_INIT, RFC 6298 §2.1); the prompt is answered once
// the node's TcpExtTCPSynRetrans says it did.
func TestTCPStepFreezesTime(t *testing.T) {
	lab := labtest.Start(t, tcpLab)
	client := lab.Node("client")
	kernelAccept(t, lab.Node("server"), "198.18.1.3:8300")
	drop := writeFile(t, "drop.nft", "table inet pktlab_drop {\n\tchain in {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 8399 drop\n\t}\n}\n")
	if _, errOut, code := run(t, "nft", lab.Name(), "server", "apply", drop); code != 0 {
		t.Fatalf("nft apply: exit %d: %s", code, errOut)
	}
	p := start(t, "tcp", "connect", lab.Name(), "client", "198.18.1.3:8300", "--step", "--abort")
	p.waitFor(t, "-- press Enter to send ")
	before, err := labtest.NetStat(client, "TcpExt", "TCPSynRetrans")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	dialed := make(chan struct{})
	go func() {
		defer close(dialed)
		client.Do(func() error {
			var d net.Dialer
			if c, err := d.DialContext(ctx, "tcp", "198.18.1.3:8399"); err == nil {
				c.Close()
			}
			return nil
		})
	}()
	labtest.Until(t, "the kernel's SYN to time out once", func() (bool, error) {
		n, err := labtest.NetStat(client, "TcpExt", "TCPSynRetrans")
		return n > before, err
	})
	cancel()
	<-dialed
	go p.answerPrompts()
	select {
	case <-p.exited:
	case <-time.After(exitLimit):
		t.Fatalf("connect --step did not finish:\n%s", p.output())
	}
	out := p.output()
	if strings.Contains(out, "retransmission timeout") || strings.Count(out, "Flags [S], ") != 2 { // the prompt's line and the sent line
		t.Errorf("the wait at the prompt made the SYN time out:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "client:eth0 <") && strings.Contains(l, " IP 198.18.1.3.8300 > ") && strings.Contains(l, "Flags [S.]") {
			var at float64
			fmt.Sscanf(strings.TrimSpace(l), "%f", &at)
			if at >= 1 {
				t.Errorf("SYN-ACK at %.6f s on the timeline: the pause at the prompt was counted\n%s", at, out)
			}
			return
		}
	}
	t.Errorf("no SYN-ACK in the timeline:\n%s", out)
}
