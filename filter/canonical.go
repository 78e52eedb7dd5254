package filter

import (
	"fmt"

	"github.com/google/nftables"
)

// Canonical returns the ruleset as nft would list it after applying it, computed
// without a kernel: every rule is compiled and decompiled again, so dependencies,
// merged comparisons, set ordering and defaults come out as nft prints them.
func Canonical(rs *Ruleset, ifs Interfaces) (string, error) {
	c, err := Compile(rs)
	if err != nil {
		return "", err
	}
	back, err := FromCompiled(c, ifs)
	if err != nil {
		return "", err
	}
	return Render(back, ifs), nil
}

// FromCompiled rebuilds a Ruleset from compiled objects, as Read does from the kernel.
func FromCompiled(c *Compiled, ifs Interfaces) (*Ruleset, error) {
	rs := &Ruleset{}
	tables := map[*nftables.Table]*Table{}
	for _, nt := range c.Tables {
		t := &Table{Family: Family(nt.Family), Name: nt.Name}
		tables[nt] = t
		rs.Tables = append(rs.Tables, t)
	}
	var d decompiler
	chains := map[*nftables.Chain]*Chain{}
	for _, nc := range c.Chains {
		ch := chainFromNft(nc)
		chains[nc] = ch
		tables[nc.Table].Chains = append(tables[nc.Table].Chains, ch)
	}
	for _, cr := range c.Rules {
		sets := cr.Sets
		lookup := func(name string, id uint32) (*nftables.Set, []nftables.SetElement, error) {
			for _, s := range sets {
				if s.Set.ID == id {
					return s.Set, s.Elems, nil
				}
			}
			return nil, nil, fmt.Errorf("no set %s (id %d)", name, id)
		}
		r, _ := d.rule(Family(cr.Rule.Table.Family), cr.Rule.Exprs, lookup, ifs)
		ch := chains[cr.Rule.Chain]
		ch.Rules = append(ch.Rules, r)
	}
	return rs, nil
}

// chainFromNft converts a chain declaration.
func chainFromNft(nc *nftables.Chain) *Chain {
	ch := &Chain{Name: nc.Name}
	if nc.Hooknum != nil {
		b := &BaseChain{Type: ChainType(nc.Type), Hook: Hook(*nc.Hooknum), Device: nc.Device}
		if nc.Priority != nil {
			b.Priority = int32(*nc.Priority)
		}
		if nc.Policy != nil {
			p := Policy(*nc.Policy)
			b.Policy = &p
		}
		ch.Base = b
	}
	return ch
}
