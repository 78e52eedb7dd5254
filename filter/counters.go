package filter

// CounterRow is one counter read back from a node: a base chain's policy counter
// (packets that reached the chain's policy; Handle 0) or a rule's `counter` statement.
type CounterRow struct {
	Family  Family `json:"family"`
	Table   string `json:"table"`
	Chain   string `json:"chain"`
	Handle  uint64 `json:"handle,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// CounterRows lists the counters of a ruleset read back from a node, chain by chain:
// the chain row first (when the kernel keeps base chain counters), then each rule with
// a counter statement.
func CounterRows(rs *Ruleset, ifs Interfaces) []CounterRow {
	n := 0
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			n += 1 + len(c.Rules)
		}
	}
	out := make([]CounterRow, 0, n) // at most a row a chain and a rule
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			if c.HasCounters {
				out = append(out, CounterRow{Family: t.Family, Table: t.Name, Chain: c.Name, Packets: c.Packets, Bytes: c.Bytes})
			}
			for _, r := range c.Rules {
				for _, s := range r.Stmts {
					if ctr, ok := s.(*Counter); ok {
						out = append(out, CounterRow{Family: t.Family, Table: t.Name, Chain: c.Name, Handle: r.Handle,
							Rule: RenderRule(t.Family, r, ifs), Packets: ctr.Packets, Bytes: ctr.Bytes})
						break
					}
				}
			}
		}
	}
	return out
}
