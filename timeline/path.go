package timeline

// Path is the verdicts of one traced packet, in order: its way through nftables.
type Path struct {
	ID       uint32
	Verdicts []*Verdict
}

// Paths groups verdicts by packet, keeping the order in which packets first appeared
// and the order of verdicts within each packet.
func Paths(vs []*Verdict) []Path {
	idx := map[uint32]int{}
	var out []Path
	for _, v := range vs {
		i, ok := idx[v.ID]
		if !ok {
			i = len(out)
			idx[v.ID] = i
			out = append(out, Path{ID: v.ID})
		}
		out[i].Verdicts = append(out[i].Verdicts, v)
	}
	return out
}

// Hooks are the hooks the packet went through, in order, without repeats.
func (p Path) Hooks() []string {
	return p.distinct(func(v *Verdict) string { return v.Hook })
}

// Chains are the chains the packet went through, in order, without repeats.
func (p Path) Chains() []string {
	return p.distinct(func(v *Verdict) string { return v.Chain })
}

func (p Path) distinct(field func(*Verdict) string) []string {
	var out []string
	for _, v := range p.Verdicts {
		if s := field(v); s != "" && (len(out) == 0 || out[len(out)-1] != s) {
			out = append(out, s)
		}
	}
	return out
}

// RuleVerdicts are the verdicts of the rules the packet matched, in order.
func (p Path) RuleVerdicts() []string {
	var out []string
	for _, v := range p.Verdicts {
		if v.Type == TraceRule {
			out = append(out, v.Verdict)
		}
	}
	return out
}

// Final is the verdict that ended the packet's last hook: the policy or the last
// accept/drop verdict.
func (p Path) Final() string {
	for i := len(p.Verdicts) - 1; i >= 0; i-- {
		v := p.Verdicts[i]
		if v.Type == TracePolicy {
			return v.Policy
		}
		if v.Verdict == "accept" || v.Verdict == "drop" {
			return v.Verdict
		}
	}
	return ""
}
