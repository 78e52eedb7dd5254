package host

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/pktlab/pktlab/testlab"
	"golang.org/x/sys/unix"
)

// tableName is the nftables table shared mode installs in the node.
const tableName = "pktlab-tcp"

// firewall is the shared-mode table: an output chain that drops the kernel's RSTs
// from the ports the userspace host uses.
type firewall struct {
	node  *testlab.Node
	conn  *nftables.Conn
	table *nftables.Table
	chain *nftables.Chain
}

func newFirewall(n *testlab.Node) (*firewall, error) {
	c, err := nftables.New(nftables.WithNetNSFd(n.NetNSFd()))
	if err != nil {
		return nil, fmt.Errorf("tcpstate/host: nftables in node %s: %w", n.Name(), err)
	}
	fw := &firewall{node: n, conn: c}
	fw.table = c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: tableName})
	pol := nftables.ChainPolicyAccept
	fw.chain = c.AddChain(&nftables.Chain{Name: "output", Table: fw.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &pol})
	if err := c.Flush(); err != nil {
		return nil, fmt.Errorf("tcpstate/host: install nftables table inet %s in node %s: %w", tableName, n.Name(), err)
	}
	return fw, nil
}

// dropRSTFrom adds: tcp sport PORT tcp flags & rst != 0 drop.
func (fw *firewall) dropRSTFrom(port uint16) error {
	p := make([]byte, 2)
	binary.BigEndian.PutUint16(p, port)
	fw.conn.AddRule(&nftables.Rule{Table: fw.table, Chain: fw.chain, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x04}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0}},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := fw.conn.Flush(); err != nil {
		return fmt.Errorf("tcpstate/host: add RST-drop rule for port %d in node %s: %w", port, fw.node.Name(), err)
	}
	return nil
}

func (fw *firewall) remove() error {
	fw.conn.DelTable(fw.table)
	err := fw.conn.Flush()
	fw.conn.CloseLasting()
	if err != nil {
		return fmt.Errorf("tcpstate/host: remove nftables table inet %s from node %s: %w", tableName, fw.node.Name(), err)
	}
	return nil
}
