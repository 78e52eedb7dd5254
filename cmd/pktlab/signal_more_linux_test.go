//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/internal/privtest"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/sockdiag"
	"github.com/pktlab/pktlab/testlab"
)

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
// signal and removes its lab: no namespace, no state file.
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
			if _, code := p.signal(t, sig); code != 128+int(sig) || !strings.Contains(p.output(), "RUN FAILED: cut short") || strings.Contains(p.output(), "=== PASS") {
				t.Errorf("exit %d, want %d and the run reported cut short, not passed:\n%s", code, 128+int(sig), p.output())
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
			if err := client.Do(func() error {
				u, err := net.Dial("udp4", fmt.Sprintf("198.18.1.3:%d", port))
				if err != nil {
					return err
				}
				defer u.Close()
				_, err = u.Write([]byte("x"))
				return err
			}); err != nil {
				t.Fatal(err)
			}
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
