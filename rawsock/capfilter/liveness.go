package capfilter

import "golang.org/x/net/bpf"

// Register liveness, run after jump threading. A load or ALU op whose result no
// later instruction reads is dropped, as libpcap's optimizer drops it (optimize.c,
// "dead store" elimination in opt_deadstores). That changes which frames are
// rejected for being too short, and libpcap's verdicts on short frames are the
// reference: "not (not tcp and ip6 proto 58)" accepts a 14-byte IPv4 frame without
// reading its protocol byte, because both answers lead to "accept".

const (
	liveA = 1 << iota
	liveX
)

// useDef returns the registers an instruction reads and writes, and whether it
// has no other effect (so it can be dropped when what it writes is dead).
func useDef(in bpf.Instruction) (use, def int, pure bool) {
	switch in := in.(type) {
	case bpf.LoadAbsolute, bpf.LoadExtension:
		return 0, liveA, true
	case bpf.LoadIndirect:
		return liveX, liveA, true
	case bpf.LoadMemShift:
		return 0, liveX, true
	case bpf.LoadConstant:
		if in.Dst == bpf.RegX {
			return 0, liveX, true
		}
		return 0, liveA, true
	case bpf.LoadScratch:
		if in.Dst == bpf.RegX {
			return 0, liveX, true
		}
		return 0, liveA, true
	case bpf.ALUOpConstant:
		return liveA, liveA, true
	case bpf.ALUOpX:
		return liveA | liveX, liveA, true
	case bpf.TAX:
		return liveA, liveX, true
	case bpf.TXA:
		return liveX, liveA, true
	case bpf.StoreScratch:
		if in.Src == bpf.RegX {
			return liveX, 0, false
		}
		return liveA, 0, false
	case bpf.RetA:
		return liveA, 0, false
	}
	return 0, 0, false
}

// dropDead removes pure instructions whose result is never read. Scratch memory
// is treated as always read, so stores are kept.
func dropDead(ops []op) []op {
	liveAt := make(map[label]int)
	dead := make([]bool, len(ops))
	cur := 0
	for i := len(ops) - 1; i >= 0; i-- {
		o := ops[i]
		switch {
		case o.mark:
			liveAt[o.jt] = cur
		case o.isJa:
			cur = liveAt[o.jt]
		case o.isJump:
			cur = liveAt[o.jt] | liveAt[o.jf] | liveA
			if o.useX {
				cur |= liveX
			}
		default:
			use, def, pure := useDef(o.ins)
			if _, ok := o.ins.(bpf.RetConstant); ok {
				cur = 0
				continue
			}
			if pure && def&cur == 0 {
				dead[i] = true
				continue
			}
			cur = cur&^def | use
		}
	}
	return compact(ops, dead)
}
