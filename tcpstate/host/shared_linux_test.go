//go:build linux

package host

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/testlab"
)

// countRSTs counts the IPv4 TCP segments with RST set that cross iface of node n until
// the test ends.
func countRSTs(t *testing.T, n *testlab.Node, iface string) *atomic.Int64 {
	t.Helper()
	sock, err := rawsock.Open(n, iface, &rawsock.Config{Cooked: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var rsts atomic.Int64
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			f, err := sock.ReadFrame(ctx, buf)
			if err != nil {
				return
			}
			b := f.Data
			if len(b) < 20 || b[0]>>4 != 4 || b[9] != 6 {
				continue
			}
			ihl := int(b[0]&0x0f) * 4
			if len(b) >= ihl+14 && b[ihl+13]&0x04 != 0 {
				rsts.Add(1)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; sock.Close() })
	return &rsts
}

// TestLabTwoSharedHosts: two shared-mode hosts on one node (two `pktlab tcp connect
// --shared`) each install and remove only their own rules. When one closes, the other's
// connection goes on: its kernel still does not answer the userspace flow with RSTs, and
// data still flows. Before, each host's Close deleted the one shared table.
func TestLabTwoSharedHosts(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	node, kern := lab.Node("us"), lab.Node("kern")
	rsts := countRSTs(t, kern, "eth0")
	recA, recB := &recorder{}, &recorder{}
	ha, err := Start(context.Background(), node, &Config{Shared: true, Events: recA.add})
	if err != nil {
		t.Fatal(err)
	}
	hb, err := Start(context.Background(), node, &Config{Shared: true, Events: recB.add})
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	if ha.fw.table == hb.fw.table {
		t.Fatalf("both hosts use table %s", ha.fw.table)
	}
	usA, kA := pair(t, ha, kern, kern4, netip.Addr{}, true, nil)
	exchange(t, usA, kA, 64<<10, 20*time.Second)

	ln := kernelListen(t, kern, netip.AddrPortFrom(kern4, 8081).String())
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	usB, err := hb.DialWith(ctxT(t, 10*time.Second), netip.AddrPortFrom(kern4, 8081), nil)
	if err != nil {
		t.Fatal(err)
	}
	kB := <-acc
	if kB == nil {
		t.Fatal("kernel accept failed")
	}
	defer kB.Close()
	defer usB.Close()

	if err := ha.Close(); err != nil {
		t.Fatal(err)
	}
	if n := rsts.Load(); n != 0 {
		t.Fatalf("%d RSTs on the wire before the exchange", n)
	}
	// B's flow after A is gone: the kernel of node us sees every segment of it and,
	// without B's rules, would reset it.
	exchange(t, usB, kB, 1<<20, 20*time.Second)
	if n := rsts.Load(); n != 0 {
		t.Errorf("%d RSTs on the wire after the other host closed", n)
	}
	for _, s := range recB.segments(false) {
		if s.Flags&header.TCPFlagRST != 0 {
			t.Errorf("host B received a RST: %v", &s)
		}
	}
	tables := ownedTableNames(t, node)
	if tables[ha.fw.table] || !tables[hb.fw.table] {
		t.Errorf("tables after A closed: %v, want only B's %s", tables, hb.fw.table)
	}
}

// TestLabSharedRemovesDeadHostsTable: the table of a shared-mode host that was killed
// (its pid and start time no longer name a live process) is removed by the next host
// on the node; a live host's table stays.
func TestLabSharedRemovesDeadHostsTable(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	node := lab.Node("us")
	live, err := ownTable()
	if err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("%s%d-0-1", tablePrefix, os.Getpid()) // our pid, another start time
	conn, err := filter.ForNode(node)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{live, dead} {
		rs, err := filter.Parse("t.nft", []byte("table inet "+name+" {\n\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n\t\ttcp sport 1 tcp flags rst counter drop\n\t}\n}\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Apply(context.Background(), rs); err != nil {
			t.Fatal(err)
		}
	}
	h, err := Start(context.Background(), node, &Config{Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tables := ownedTableNames(t, node)
	if tables[dead] || !tables[live] || !tables[h.fw.table] {
		t.Errorf("tables %v: want %s (dead host's) removed, %s (live) and %s (new host's) kept", tables, dead, live, h.fw.table)
	}
}

func ownedTableNames(t *testing.T, n *testlab.Node) map[string]bool {
	t.Helper()
	conn, err := filter.ForNode(n)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := conn.OwnedTables(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, tb := range ts {
		out[tb.Name] = true
	}
	return out
}
