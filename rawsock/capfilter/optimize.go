package capfilter

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// The optimizer does, in one forward pass (all jumps go forward), what makes
// libpcap's programs short (optimize.c): it tracks what A and X hold and what the
// jumps taken so far proved about A, then
//   - threads jumps: an edge into code that reloads the value A already holds and
//     tests something the edge already decided goes straight to the decided target;
//   - drops loads of a value the register already holds on every incoming path;
//   - turns conditional jumps with a known outcome into "ja", drops "ja" to the
//     next instruction, and drops unreachable code.
// Dropping a load is safe for out-of-bounds semantics: the same load already
// succeeded on every path that reaches it.

// fact is what a taken jump proved about A: (A cond val) == out.
type fact struct {
	cond bpf.JumpTest
	val  uint32
	out  bool
}

// regs is what is known on entry to an op: which values A and X hold, and what
// the jumps taken so far proved about values, keyed by value (so a fact about the
// EtherType survives loading the IP address and reloading the EtherType). Facts
// form an immutable list shared between states, so following an edge costs one
// allocation.
type regs struct {
	a, x  string // value keys, "" when unknown
	facts *factList
}

type factList struct {
	key  string
	f    fact
	next *factList
}

func (l *factList) has(key string, f fact) bool {
	for ; l != nil; l = l.next {
		if l.key == key && l.f == f {
			return true
		}
	}
	return false
}

func (r regs) with(f fact) regs {
	if r.a != "" {
		r.facts = &factList{key: r.a, f: f, next: r.facts}
	}
	return r
}

func merge(p *regs, q regs) *regs {
	if p == nil {
		c := q
		return &c
	}
	out := regs{}
	if p.a == q.a {
		out.a = p.a
	}
	if p.x == q.x {
		out.x = p.x
	}
	if p.facts == q.facts {
		out.facts = p.facts
		return &out
	}
	// Keep the facts both paths established; a shared tail is kept as is.
	var kept []*factList
	l := p.facts
	for ; l != nil; l = l.next {
		if q.facts.has(l.key, l.f) {
			if isTail(l, q.facts) {
				break
			}
			kept = append(kept, l)
		}
	}
	out.facts = l
	for i := len(kept) - 1; i >= 0; i-- {
		out.facts = &factList{key: kept[i].key, f: kept[i].f, next: out.facts}
	}
	return &out
}

// isTail reports whether l is a suffix of q.
func isTail(l, q *factList) bool {
	for ; q != nil; q = q.next {
		if q == l {
			return true
		}
	}
	return false
}

// decide returns the outcome of "A cond val" if the facts settle it.
func (r regs) decide(cond bpf.JumpTest, val uint32) (out, known bool) {
	if r.a == "" {
		return false, false
	}
	for l := r.facts; l != nil; l = l.next {
		if l.key != r.a {
			continue
		}
		f := l.f
		if f.cond == cond && f.val == val {
			return f.out, true
		}
		if f.cond == bpf.JumpEqual && f.out {
			return compare2(cond, f.val, val), true
		}
	}
	return false, false
}

func compare2(c bpf.JumpTest, a, v uint32) bool {
	if c == bpf.JumpBitsSet {
		return a&v != 0
	}
	return compare(c, a, v)
}

// key names the value a load or ALU op leaves in a register, given r.
// isLoad reports whether the op only loads (so it can be dropped when redundant).
func step(in bpf.Instruction, r regs) (next regs, key string, isLoad, toX bool) {
	next = regs{a: r.a, x: r.x, facts: r.facts}
	setA := func(k string) { next.a = k }
	switch in := in.(type) {
	case bpf.LoadAbsolute:
		key, isLoad = fmt.Sprintf("[%d:%d]", in.Off, in.Size), true
		setA(key)
	case bpf.LoadIndirect:
		if r.x != "" {
			key, isLoad = fmt.Sprintf("[%s+%d:%d]", r.x, in.Off, in.Size), true
		}
		setA(key)
	case bpf.LoadExtension:
		key, isLoad = fmt.Sprintf("ext%d", in.Num), true
		setA(key)
	case bpf.LoadConstant:
		if in.Dst == bpf.RegX {
			next.x = fmt.Sprintf("#%d", in.Val)
			return next, next.x, true, true
		}
		key, isLoad = fmt.Sprintf("#%d", in.Val), true
		setA(key)
	case bpf.LoadMemShift:
		next.x = fmt.Sprintf("msh[%d]", in.Off)
		return next, next.x, true, true
	case bpf.ALUOpConstant:
		k := ""
		if r.a != "" {
			k = fmt.Sprintf("(%s op%d %d)", r.a, in.Op, in.Val)
		}
		setA(k)
	case bpf.TAX:
		next.x = r.a
	case bpf.TXA:
		setA(r.x)
	case bpf.LoadScratch:
		if in.Dst == bpf.RegX {
			next.x = ""
		} else {
			setA("")
		}
	default: // ALUOpX, StoreScratch, returns
		if _, ok := in.(bpf.ALUOpX); ok {
			setA("")
		}
	}
	return next, key, isLoad, false
}

// optimize rewrites ops as described above.
func optimize(ops []op) []op {
	pos := make(map[label]int)
	rets := make(map[uint32]label)
	for i, o := range ops {
		if o.mark {
			pos[o.jt] = i
			if i+1 < len(ops) {
				if r, ok := ops[i+1].ins.(bpf.RetConstant); ok {
					rets[r.Val] = o.jt
				}
			}
		}
	}
	in := make(map[label]*regs)
	dead := make([]bool, len(ops))
	var cur *regs = &regs{}
	for i := range ops {
		o := &ops[i]
		switch {
		case o.mark:
			if st, ok := in[o.jt]; ok {
				if cur == nil {
					c := *st
					cur = &c
				} else {
					cur = merge(cur, *st)
				}
			}
			continue
		case cur == nil:
			dead[i] = true
			continue
		case o.isJa:
			l, st := thread(ops, pos, o.jt, *cur)
			o.jt = l
			in[l] = merge(in[l], st)
			cur = nil
		case o.isJump:
			optimizeJump(ops, pos, rets, in, o, *cur)
			cur = nil
		default:
			next, key, isLoad, toX := step(o.ins, *cur)
			if isLoad && ((toX && key == cur.x) || (!toX && key == cur.a)) {
				dead[i] = true
				continue
			}
			if _, ok := o.ins.(bpf.RetConstant); ok {
				cur = nil
				continue
			}
			cur = &next
		}
	}
	return compact(ops, dead)
}

func optimizeJump(ops []op, pos map[label]int, rets map[uint32]label, in map[label]*regs, o *op, cur regs) {
	if !o.useX {
		if out, known := cur.decide(o.cond, o.val); known {
			target := o.jf
			if out {
				target = o.jt
			}
			l, st := thread(ops, pos, target, cur)
			*o = op{isJa: true, jt: l}
			in[l] = merge(in[l], st)
			return
		}
	}
	edge := func(target label, out bool) label {
		st := cur
		if !o.useX {
			st = cur.with(fact{o.cond, o.val, out})
		}
		// If every path from the target returns the same verdict, go straight to
		// it: libpcap's optimizer does, and so skips the loads on those paths.
		budget := 400
		if v, ok := outcome(ops, pos, pos[target], st, &budget); ok {
			if l, ok := rets[v]; ok {
				in[l] = merge(in[l], st)
				return l
			}
		}
		l, st2 := thread(ops, pos, target, st)
		in[l] = merge(in[l], st2)
		return l
	}
	o.jt = edge(o.jt, true)
	o.jf = edge(o.jf, false)
	if o.jt == o.jf {
		*o = op{isJa: true, jt: o.jt}
	}
}

// thread follows target through loads, decided jumps and "ja", and returns the
// last label reached by a jump where the edge may land, and the register state
// there. Passing a load that is not redundant is simulated only: the edge may then
// land only where the code overwrites A before reading it.
func thread(ops []op, pos map[label]int, target label, st regs) (label, regs) {
	best, bestSt := target, st
	orig := st
	aReal := true
	i := pos[target]
	for steps := 0; i < len(ops) && steps < 10000; steps++ {
		o := ops[i]
		switch {
		case o.mark:
			i++
		case o.isJa:
			i = pos[o.jt]
			if l, s, ok := landing(ops, i, o.jt, st, orig, aReal); ok {
				best, bestSt = l, s
			}
		case o.isJump:
			if o.useX {
				return best, bestSt
			}
			out, known := st.decide(o.cond, o.val)
			if !known {
				return best, bestSt
			}
			l := o.jf
			if out {
				l = o.jt
			}
			i = pos[l]
			if lb, s, ok := landing(ops, i, l, st, orig, aReal); ok {
				best, bestSt = lb, s
			}
		default:
			next, key, isLoad, toX := step(o.ins, st)
			switch {
			case isLoad && toX && key == st.x:
			case isLoad && !toX && key == st.a:
			case isLoad && !toX && key != "" && !strings.HasPrefix(key, "#"):
				st.a, aReal = next.a, false
			case isALUConst(o.ins) && st.a != "":
				// Simulated only, like a load: "ldb [0]; and #0xf0" on LinkTypeRaw.
				st.a, aReal = next.a, false
			default:
				return best, bestSt
			}
			i++
		}
	}
	return best, bestSt
}

// outcome returns the value every path from ops[i] returns under st, if there is
// one and it is found within budget steps.
func outcome(ops []op, pos map[label]int, i int, st regs, budget *int) (uint32, bool) {
	for ; i < len(ops); i++ {
		if *budget--; *budget < 0 {
			return 0, false
		}
		o := ops[i]
		switch {
		case o.mark:
		case o.isJa:
			i = pos[o.jt] - 1
		case o.isJump:
			if !o.useX {
				if out, known := st.decide(o.cond, o.val); known {
					l := o.jf
					if out {
						l = o.jt
					}
					i = pos[l] - 1
					continue
				}
			}
			st1, st2 := st, st
			if !o.useX {
				st1, st2 = st.with(fact{o.cond, o.val, true}), st.with(fact{o.cond, o.val, false})
			}
			v1, ok1 := outcome(ops, pos, pos[o.jt], st1, budget)
			if !ok1 {
				return 0, false
			}
			v2, ok2 := outcome(ops, pos, pos[o.jf], st2, budget)
			return v1, ok2 && v1 == v2
		default:
			if r, ok := o.ins.(bpf.RetConstant); ok {
				return r.Val, true
			}
			if _, ok := o.ins.(bpf.RetA); ok {
				return 0, false
			}
			st, _, _, _ = step(o.ins, st)
		}
	}
	return 0, false
}

func isALUConst(in bpf.Instruction) bool {
	_, ok := in.(bpf.ALUOpConstant)
	return ok
}

// landing reports whether an edge whose simulated state is st may land at label l
// (ops index i), and the real state it lands with.
func landing(ops []op, i int, l label, st, orig regs, aReal bool) (label, regs, bool) {
	if aReal {
		return l, st, true
	}
	for i < len(ops) && ops[i].mark {
		i++
	}
	if i == len(ops) || ops[i].isJump || ops[i].isJa {
		return 0, regs{}, false
	}
	switch in := ops[i].ins.(type) {
	case bpf.LoadAbsolute, bpf.LoadExtension, bpf.RetConstant:
	case bpf.LoadConstant:
		if in.Dst != bpf.RegA {
			return 0, regs{}, false
		}
	case bpf.LoadScratch:
		if in.Dst != bpf.RegA {
			return 0, regs{}, false
		}
	default:
		return 0, regs{}, false
	}
	real := st
	real.a = orig.a
	return l, real, true
}

// compact drops dead ops, jumps to the next instruction, and labels nobody uses.
func compact(ops []op, dead []bool) []op {
	var out []op
	for i, o := range ops {
		if !dead[i] {
			out = append(out, o)
		}
	}
	for changed := true; changed; {
		changed = false
		used := make(map[label]bool)
		for _, o := range out {
			if o.isJa {
				used[o.jt] = true
			}
			if o.isJump {
				used[o.jt], used[o.jf] = true, true
			}
		}
		var next []op
		for i, o := range out {
			if o.mark && !used[o.jt] {
				changed = true
				continue
			}
			if o.isJa && jumpsToNext(out, i) {
				changed = true
				continue
			}
			next = append(next, o)
		}
		out = unreachable(next, &changed)
	}
	return out
}

// jumpsToNext reports whether ops[i] is a ja to a label placed before the next
// instruction.
func jumpsToNext(ops []op, i int) bool {
	for j := i + 1; j < len(ops) && ops[j].mark; j++ {
		if ops[j].jt == ops[i].jt {
			return true
		}
	}
	return false
}

// unreachable drops ops after a jump or return that no label makes reachable.
func unreachable(ops []op, changed *bool) []op {
	var out []op
	live := true
	for _, o := range ops {
		if o.mark {
			live = true
		}
		if !live {
			*changed = true
			continue
		}
		out = append(out, o)
		if o.isJa || o.isJump {
			live = false
		}
		if _, ok := o.ins.(bpf.RetConstant); ok {
			live = false
		}
	}
	return out
}
