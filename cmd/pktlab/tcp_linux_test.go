package main

import (
	"bufio"
	"encoding/json"
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

type tcpLine struct {
	Kind, Event, From, To, Frame, Cause, State string
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
	var path []string
	var syn bool
	for _, l := range parseTCPLines(t, out) {
		if l.Event == "state-changed" {
			path = append(path, l.To)
		}
		if l.Event == "segment-sent" && strings.Contains(l.Frame, "Flags [S]") && strings.Contains(l.Frame, "198.18.1.102.") {
			syn = true
		}
	}
	want := "SYN-SENT ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT"
	if strings.Join(path, " ") != want {
		t.Errorf("state path %v, want %s", path, want)
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
	cmd := exec.Command(pktlabBin, "tcp", "listen", lab.Name(), "server", "198.18.1.200:7000", "--echo", "--step", "--time-wait", "1s")
	stdin, _ := cmd.StdinPipe()
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Press Enter for every frame, as a user would.
	go func() {
		for i := 0; i < 50; i++ {
			stdin.Write([]byte("\n"))
			time.Sleep(20 * time.Millisecond)
		}
		stdin.Close()
	}()
	time.Sleep(300 * time.Millisecond)
	var c net.Conn
	err := lab.Node("client").Do(func() (err error) {
		c, err = net.DialTimeout("tcp", "198.18.1.200:7000", 5*time.Second)
		return
	})
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("kernel dial: %v\n%s", err, out.String())
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("echo me"))
	c.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(c)
	c.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("listen: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("listen did not finish:\n%s", out.String())
	}
	if string(got) != "echo me" {
		t.Errorf("echo %q", got)
	}
	s := out.String()
	for _, want := range []string{"LISTEN → SYN-RECEIVED", "press Enter to send", "-- next: IP 198.18.1.200.7000 > 198.18.1.2.", "ESTABLISHED → CLOSE-WAIT"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}
