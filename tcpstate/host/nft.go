package host

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/testlab"
)

// tablePrefix starts the name of the nftables table each shared-mode host installs in
// its node: pktlab-tcp-PID-START-SEQ, after the process's id and start time (field 22 of
// /proc/PID/stat) and the host's number in the process, so that two hosts on one node (two `pktlab tcp connect --shared`)
// each add and remove only their own rules, and a table whose process is gone (killed)
// is recognised and removed by the next host on the node. `lab down` removes the node's
// namespace, and every table with it.
const tablePrefix = "pktlab-tcp-"

// firewall is the shared-mode table: an output chain that drops the kernel's RSTs
// from the ports the userspace host uses. Its rules are written through filter, the
// only package that writes nftables rules.
type firewall struct {
	node  *testlab.Node
	conn  *filter.Conn
	table string
}

// hostSeq numbers the shared-mode hosts of this process, which may run several on one
// node (an experiment's parallel branches, tests).
var hostSeq atomic.Uint64

// ownTable names a new host's table: pktlab-tcp-PID-START-SEQ.
func ownTable() (string, error) {
	start, err := procStart(os.Getpid())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%d-%d-%d", tablePrefix, os.Getpid(), start, hostSeq.Add(1)), nil
}

// procStart returns the start time of process pid in clock ticks since boot (proc(5),
// /proc/PID/stat field 22), which tells a live process from a reused pid.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count fields
	// after its closing parenthesis, which is field 3's start.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// staleTable reports a shared-mode table whose process is gone: its pid is dead or
// now belongs to a process started at another time.
func staleTable(name string) bool {
	rest, ok := strings.CutPrefix(name, tablePrefix)
	if !ok {
		return false
	}
	f := strings.Split(rest, "-")
	if len(f) != 3 {
		return false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	now, err := procStart(pid)
	return err != nil || now != start
}

// newFirewall installs this host's table in node n, after removing those of dead
// hosts. Its netlink batches are short and never wait on the network, so they take
// no context.
func newFirewall(n *testlab.Node) (*firewall, error) {
	ctx := context.Background()
	conn, err := filter.ForNode(n)
	if err != nil {
		return nil, fmt.Errorf("tcpstate/host: nftables in node %s: %w", n.Name(), err)
	}
	name, err := ownTable()
	if err != nil {
		return nil, fmt.Errorf("tcpstate/host: name the nftables table: %w", err)
	}
	fw := &firewall{node: n, conn: conn, table: name}
	if err := fw.removeStale(ctx); err != nil {
		return nil, err
	}
	if err := fw.apply(ctx, ""); err != nil {
		return nil, fmt.Errorf("tcpstate/host: install nftables table inet %s in node %s: %w", name, n.Name(), err)
	}
	return fw, nil
}

// removeStale deletes the tables of shared-mode hosts that were killed before they
// could remove them.
func (fw *firewall) removeStale(ctx context.Context) error {
	owned, err := fw.conn.OwnedTables(ctx)
	if err != nil {
		return fmt.Errorf("tcpstate/host: %w", err)
	}
	var stale []*filter.Table
	for _, t := range owned {
		if t.Family == filter.FamilyINet && staleTable(t.Name) {
			stale = append(stale, t)
		}
	}
	if err := fw.conn.DeleteTables(ctx, stale); err != nil {
		return fmt.Errorf("tcpstate/host: remove the tables of dead shared-mode hosts in node %s: %w", fw.node.Name(), err)
	}
	return nil
}

// apply adds the table and its output chain (a no-op when they exist) and rule, if
// any, in one batch.
func (fw *firewall) apply(ctx context.Context, rule string) error {
	src := fmt.Sprintf("table inet %s {\n\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n%s\t}\n}\n", fw.table, rule)
	rs, err := filter.Parse("tcpstate-host.nft", []byte(src), nil)
	if err != nil {
		return err
	}
	return fw.conn.Apply(ctx, rs)
}

// dropRSTFrom adds: tcp sport PORT tcp flags rst counter drop.
func (fw *firewall) dropRSTFrom(port uint16) error {
	if err := fw.apply(context.Background(), fmt.Sprintf("\t\ttcp sport %d tcp flags rst counter drop\n", port)); err != nil {
		return fmt.Errorf("tcpstate/host: add RST-drop rule for port %d in node %s: %w", port, fw.node.Name(), err)
	}
	return nil
}

// remove deletes this host's table, and only it.
func (fw *firewall) remove() error {
	if err := fw.conn.DeleteTables(context.Background(), []*filter.Table{{Family: filter.FamilyINet, Name: fw.table}}); err != nil {
		return fmt.Errorf("tcpstate/host: remove nftables table inet %s from node %s: %w", fw.table, fw.node.Name(), err)
	}
	return nil
}
