//go:build linux

package filter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/pktlab/pktlab/testlab"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// ErrNoNamespace is returned when a Conn is asked for without a lab node's namespace.
var ErrNoNamespace = errors.New("filter: refusing to open nftables without a lab namespace fd (would touch the host's ruleset)")

// Conn talks nftables to one lab node. It never touches the host's namespace: it only
// exists bound to a namespace file descriptor.
type Conn struct {
	fd   int
	name string
	nft  *nftables.Conn
}

// Open returns a Conn for the network namespace fd (a lab node's NetNSFd). It refuses
// fd <= 0: google/nftables treats 0 as "the caller's namespace", which is the host's.
func Open(fd int, name string) (*Conn, error) {
	if fd <= 0 {
		return nil, ErrNoNamespace
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return nil, fmt.Errorf("filter: open nftables in %s: %w", name, err)
	}
	return &Conn{fd: fd, name: name, nft: c}, nil
}

// ForNode returns a Conn for a lab node.
func ForNode(n *testlab.Node) (*Conn, error) {
	if n == nil {
		return nil, ErrNoNamespace
	}
	return Open(n.NetNSFd(), n.Lab().Name()+":"+n.Name())
}

// Interfaces returns the node's interfaces by name and index, read now.
func (c *Conn) Interfaces() (InterfaceMap, error) {
	h, err := netlink.NewHandleAt(netns.NsHandle(c.fd))
	if err != nil {
		return nil, fmt.Errorf("filter: netlink handle in %s: %w", c.name, err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("filter: list links in %s: %w", c.name, err)
	}
	m := InterfaceMap{}
	for _, l := range links {
		m[l.Attrs().Name] = l.Attrs().Index
	}
	return m, nil
}

// ParseFor parses a rules file against this node's interfaces.
func (c *Conn) ParseFor(file string, src []byte) (*Ruleset, error) {
	ifs, err := c.Interfaces()
	if err != nil {
		return nil, err
	}
	return Parse(file, src, ifs)
}

// Apply sends the whole ruleset to the node in one netlink batch. The kernel applies a
// batch atomically, so on any error nothing in the node has changed.
func (c *Conn) Apply(ctx context.Context, rs *Ruleset) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	comp, err := Compile(rs)
	if err != nil {
		return err
	}
	return c.ApplyCompiled(comp)
}

// ApplyCompiled sends already compiled objects in one batch.
func (c *Conn) ApplyCompiled(comp *Compiled) error {
	w, err := encodeBatch(comp, uint32(time.Now().UnixNano()))
	if err != nil {
		return fmt.Errorf("filter: encode batch for %s: %w", c.name, err)
	}
	if err := sendBatch(c.fd, w); err != nil {
		return fmt.Errorf("filter: apply ruleset in %s: %w (nothing was changed)", c.name, err)
	}
	return nil
}

// Read reads every table of the node back from the kernel, with rule handles and
// counter values.
func (c *Conn) Read(ctx context.Context) (*Ruleset, error) {
	rs, _, err := c.read(ctx)
	return rs, err
}

func (c *Conn) read(ctx context.Context) (*Ruleset, InterfaceMap, error) {
	ifs, err := c.Interfaces()
	if err != nil {
		return nil, nil, err
	}
	tables, err := c.nft.ListTables()
	if err != nil {
		return nil, nil, fmt.Errorf("filter: list tables in %s: %w", c.name, err)
	}
	chains, err := c.nft.ListChains()
	if err != nil {
		return nil, nil, fmt.Errorf("filter: list chains in %s: %w", c.name, err)
	}
	d := &dumped{v: &verifier{}}
	if d.rules, err = dumpRules(c.fd); err == nil {
		if d.objects, err = tableObjects(c.fd); err == nil {
			d.flowtables, err = tableFlowtables(c.fd)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("filter: %s: %w", c.name, err)
	}
	rs := &Ruleset{}
	for _, nt := range tables {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		t, err := c.readTable(d, nt, chains, ifs)
		if err != nil {
			return nil, nil, err
		}
		rs.Tables = append(rs.Tables, t)
	}
	return rs, ifs, nil
}

// dumped is what read dumps of the whole namespace once, for its tables: rules by
// chain, objects and flowtables by table, and the verifier of the listing.
type dumped struct {
	v          *verifier
	rules      map[string][]dumpedRule
	objects    map[string][]*Object
	flowtables map[string][]string
}

func (c *Conn) readTable(d *dumped, nt *nftables.Table, chains []*nftables.Chain, ifs Interfaces) (*Table, error) {
	t := &Table{Family: Family(nt.Family), Name: nt.Name}
	t.Objects = d.objects[tableKey(t.Family, t.Name)]
	lookup := c.setLookup(t)
	// nft lists flowtables after the sets.
	t.Unsupported = append(t.Unsupported, d.flowtables[tableKey(t.Family, t.Name)]...)
	infos, err := chainInfos(c.fd, byte(nt.Family))
	if err != nil {
		return nil, fmt.Errorf("filter: chains of %s %s in %s: %w", t.Family, t.Name, c.name, err)
	}
	for _, nc := range chains {
		if nc.Table.Name != nt.Name || nc.Table.Family != nt.Family {
			continue
		}
		ch := chainFromNft(nc)
		if ch.Base != nil {
			ci := infos[fmt.Sprintf("%d/%s/%s", t.Family, t.Name, ch.Name)]
			ch.Base.Device = ci.Device
			ch.Packets, ch.Bytes, ch.HasCounters = ci.Packets, ci.Bytes, ci.HasCounters
			if !subsetFamily(t.Family) {
				ch.Unsupported = fmt.Sprintf("base chain of a %s table: type %s hook %d priority %d", t.Family, ch.Base.Type, ch.Base.Hook, ch.Base.Priority)
			}
		}
		for _, r := range d.rules[chainKey(t.Family, t.Name, nc.Name)] {
			ch.Rules = append(ch.Rules, d.v.listRule(t.Family, r, lookup, ifs))
		}
		t.Chains = append(t.Chains, ch)
	}
	return t, nil
}

// setLookup returns the lookup of table t's sets for its rules. The table's named sets
// and maps, which pktlab does not list, become Unsupported lines of t. A set list that
// cannot be read makes only the rules that look a set up unsupported.
func (c *Conn) setLookup(t *Table) SetLookup {
	nt := &nftables.Table{Family: nftables.TableFamily(t.Family), Name: t.Name}
	sets, err := c.nft.GetSets(nt)
	if err != nil {
		t.Unsupported = append(t.Unsupported, fmt.Sprintf("the table's sets cannot be read (%v)", err))
	}
	for _, s := range sets {
		if !s.Anonymous {
			kind := "set"
			if s.IsMap {
				kind = "map"
			}
			t.Unsupported = append(t.Unsupported, fmt.Sprintf("%s %s (named sets and maps are not in the subset)", kind, s.Name))
		}
	}
	return func(name string, id uint32) (*nftables.Set, []nftables.SetElement, error) {
		if err != nil {
			return nil, nil, fmt.Errorf("sets of %s %s unreadable: %w", t.Family, t.Name, err)
		}
		for _, s := range sets {
			if s.Name == name {
				elems, err := c.nft.GetSetElements(s)
				if err != nil {
					return nil, nil, fmt.Errorf("set %s elements: %w", name, err)
				}
				return s, elems, nil
			}
		}
		return nil, nil, fmt.Errorf("no set %s in %s %s", name, t.Family, t.Name)
	}
}

// List reads the node's ruleset and renders it as `nft list ruleset` would.
func (c *Conn) List(ctx context.Context) (string, error) {
	rs, ifs, err := c.read(ctx)
	if err != nil {
		return "", err
	}
	return Render(rs, ifs), nil
}

// DeleteTables deletes the named tables of rs (its families and names) in one batch;
// tables that do not exist in the node are skipped.
func (c *Conn) DeleteTables(ctx context.Context, tables []*Table) error {
	have, err := c.nft.ListTables()
	if err != nil {
		return fmt.Errorf("filter: list tables in %s: %w", c.name, err)
	}
	n := 0
	for _, t := range tables {
		for _, h := range have {
			if h.Name == t.Name && Family(h.Family) == t.Family {
				c.nft.DelTable(h)
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.nft.Flush(); err != nil {
		return fmt.Errorf("filter: delete tables in %s: %w", c.name, err)
	}
	return nil
}

// OwnedTables returns the node's tables that pktlab created.
func (c *Conn) OwnedTables(ctx context.Context) ([]*Table, error) {
	ts, err := ownedTables(c.fd)
	if err != nil {
		return nil, fmt.Errorf("filter: tables in %s: %w", c.name, err)
	}
	return ts, nil
}

// FlushOwned deletes the tables pktlab created in the node, and only those.
func (c *Conn) FlushOwned(ctx context.Context) error {
	ts, err := c.OwnedTables(ctx)
	if err != nil {
		return err
	}
	return c.DeleteTables(ctx, ts)
}

// FlushAll removes every table of the node.
func (c *Conn) FlushAll(ctx context.Context) error {
	c.nft.FlushRuleset()
	if err := c.nft.Flush(); err != nil {
		return fmt.Errorf("filter: flush ruleset in %s: %w", c.name, err)
	}
	return nil
}

// Counters reads every base chain counter and rule counter of the node.
func (c *Conn) Counters(ctx context.Context) ([]CounterRow, error) {
	rs, ifs, err := c.read(ctx)
	if err != nil {
		return nil, err
	}
	return CounterRows(rs, ifs), nil
}
