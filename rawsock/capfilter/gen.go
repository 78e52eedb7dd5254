package capfilter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// label names a position in the program being generated. Labels are always placed
// after every jump that targets them, so all jumps go forward as classic BPF requires.
type label int

// op is one instruction of the program being generated: a plain instruction, a
// conditional jump to labels, an unconditional jump to a label, or a label mark.
type op struct {
	ins    bpf.Instruction // plain instruction, nil for jumps and marks
	cond   bpf.JumpTest    // conditional jump: jeq, jgt, jge or jset
	val    uint32
	useX   bool // compare with X instead of val
	jt, jf label
	isJump bool // conditional jump
	isJa   bool // unconditional jump to jt
	mark   bool // label mark for jt
}

// gen is the code generator state.
type gen struct {
	ops     []op
	labels  int
	scratch int // next free scratch memory slot M[]
	err     error
}

func (g *gen) newLabel() label { g.labels++; return label(g.labels) }

func (g *gen) emit(ins ...bpf.Instruction) {
	for _, in := range ins {
		g.ops = append(g.ops, op{ins: in})
	}
}

func (g *gen) jump(cond bpf.JumpTest, val uint32, jt, jf label) {
	g.ops = append(g.ops, op{isJump: true, cond: cond, val: val, jt: jt, jf: jf})
}

func (g *gen) jumpX(cond bpf.JumpTest, jt, jf label) {
	g.ops = append(g.ops, op{isJump: true, cond: cond, useX: true, jt: jt, jf: jf})
}

func (g *gen) ja(l label)    { g.ops = append(g.ops, op{isJa: true, jt: l}) }
func (g *gen) place(l label) { g.ops = append(g.ops, op{mark: true, jt: l}) }

// cond emits code that jumps to t when n holds and to f otherwise.
func (g *gen) cond(n node, t, f label) {
	switch n := n.(type) {
	case constNode:
		if n {
			g.ja(t)
		} else {
			g.ja(f)
		}
	case *andNode:
		mid := g.newLabel()
		g.cond(n.l, mid, f)
		g.place(mid)
		g.cond(n.r, t, f)
	case *orNode:
		mid := g.newLabel()
		g.cond(n.l, t, mid)
		g.place(mid)
		g.cond(n.r, t, f)
	case *notNode:
		g.cond(n.x, f, t)
	case *testNode:
		g.load(n.ld)
		if n.mask != 0 {
			g.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: n.mask})
		}
		g.jump(n.cond, n.val, t, f)
	case *relNode:
		g.relation(n, t, f)
	case *host4Node:
		g.cond(n.lower(), t, f)
	case *portNode:
		g.cond(n.lower(), t, f)
	default:
		panic(fmt.Sprintf("capfilter: unknown node %T", n))
	}
}

// load emits code that leaves the value ld names in A.
func (g *gen) load(ld load) {
	switch ld.mode {
	case loadAbs:
		g.emit(bpf.LoadAbsolute{Off: ld.off, Size: ld.size})
	case loadTransport4:
		// RFC 791: IHL is the low nibble of the first byte, in 32-bit words.
		g.emit(bpf.LoadMemShift{Off: ld.nl}, bpf.LoadIndirect{Off: ld.nl + ld.off, Size: ld.size})
	case loadLen:
		g.emit(bpf.LoadExtension{Num: bpf.ExtLen})
	}
}

// relation emits the guard, then both sides, then the comparison.
func (g *gen) relation(n *relNode, t, f label) {
	if n.guard != nil {
		mid := g.newLabel()
		g.cond(n.guard, mid, f)
		g.place(mid)
	}
	if n.neg {
		t, f = f, t
	}
	if c, ok := n.rhs.(arithConst); ok {
		g.arith(n.lhs)
		g.jump(n.cond, uint32(c), t, f)
		return
	}
	g.arith(n.lhs)
	slot := g.push()
	g.arith(n.rhs)
	g.emit(bpf.TAX{}, bpf.LoadScratch{Dst: bpf.RegA, N: slot})
	g.pop()
	g.jumpX(n.cond, t, f)
}

// push stores A in the next free scratch slot and returns it.
func (g *gen) push() int {
	slot := g.scratch
	if slot >= 16 {
		if g.err == nil {
			g.err = fmt.Errorf("capfilter: expression too complex: arithmetic nests deeper than the 16 scratch memory slots of classic BPF")
		}
		slot = 15
	}
	g.scratch++
	g.emit(bpf.StoreScratch{Src: bpf.RegA, N: slot})
	return slot
}

func (g *gen) pop() { g.scratch-- }

// arith emits code that leaves the value of a in A. It may clobber X.
func (g *gen) arith(a arith) {
	switch a := a.(type) {
	case arithConst:
		g.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: uint32(a)})
	case arithLen:
		g.emit(bpf.LoadExtension{Num: bpf.ExtLen})
	case *arithLoad:
		g.arithLoad(a)
	case *arithNeg:
		// The x/net/bpf VM has no "neg", so compute 0 - x.
		g.arith(a.x)
		g.emit(bpf.TAX{}, bpf.LoadConstant{Dst: bpf.RegA, Val: 0}, bpf.ALUOpX{Op: bpf.ALUOpSub})
	case *arithBin:
		if c, ok := a.r.(arithConst); ok {
			g.arith(a.l)
			g.emit(bpf.ALUOpConstant{Op: a.op, Val: uint32(c)})
			return
		}
		g.arith(a.l)
		slot := g.push()
		g.arith(a.r)
		g.emit(bpf.TAX{}, bpf.LoadScratch{Dst: bpf.RegA, N: slot}, bpf.ALUOpX{Op: a.op})
		g.pop()
	default:
		panic(fmt.Sprintf("capfilter: unknown arith %T", a))
	}
}

func (g *gen) arithLoad(a *arithLoad) {
	if c, ok := a.index.(arithConst); ok {
		if a.transport4 {
			g.load(load{mode: loadTransport4, nl: a.base, off: uint32(c), size: a.size})
			return
		}
		g.emit(bpf.LoadAbsolute{Off: a.base + uint32(c), Size: a.size})
		return
	}
	g.arith(a.index)
	if a.transport4 {
		// X = index + IPv4 header length, then load at X + start of IPv4 header.
		slot := g.push()
		g.emit(bpf.LoadMemShift{Off: a.base}, bpf.LoadScratch{Dst: bpf.RegA, N: slot},
			bpf.ALUOpX{Op: bpf.ALUOpAdd})
		g.pop()
	}
	g.emit(bpf.TAX{}, bpf.LoadIndirect{Off: a.base, Size: a.size})
}
