package capfilter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// runLenient interprets prog like the kernel does except that a load past the end
// of the frame reads zeros instead of rejecting the frame. Under that semantics
// dropping a load whose value is unused is exact, so optimized and unoptimized
// programs must agree on every frame: it is FuzzCompile's oracle for the optimizer.
func runLenient(prog []bpf.Instruction, data []byte) (uint32, error) {
	v, _, err := runCounting(prog, data)
	return v, err
}

// runCounting is runLenient that also counts the instructions executed, a
// machine-independent measure of a program's cost on a frame.
func runCounting(prog []bpf.Instruction, data []byte) (ret uint32, steps int, err error) {
	var a, x uint32
	var mem [16]uint32
	ld := func(off uint32, size int) uint32 {
		var v uint32
		for i := 0; i < size; i++ {
			v <<= 8
			if o := uint64(off) + uint64(i); o < uint64(len(data)) {
				v |= uint32(data[o])
			}
		}
		return v
	}
	for pc := 0; pc < len(prog); pc++ {
		steps++
		switch in := prog[pc].(type) {
		case bpf.LoadAbsolute:
			a = ld(in.Off, in.Size)
		case bpf.LoadIndirect:
			a = ld(in.Off+x, in.Size)
		case bpf.LoadMemShift:
			x = (ld(in.Off, 1) & 0xf) * 4
		case bpf.LoadExtension:
			a = uint32(len(data))
		case bpf.LoadConstant:
			if in.Dst == bpf.RegX {
				x = in.Val
			} else {
				a = in.Val
			}
		case bpf.LoadScratch:
			if in.Dst == bpf.RegX {
				x = mem[in.N]
			} else {
				a = mem[in.N]
			}
		case bpf.StoreScratch:
			if in.Src == bpf.RegX {
				mem[in.N] = x
			} else {
				mem[in.N] = a
			}
		case bpf.ALUOpConstant:
			a = alu(in.Op, a, in.Val)
		case bpf.ALUOpX:
			if x == 0 && (in.Op == bpf.ALUOpDiv || in.Op == bpf.ALUOpMod) {
				return 0, steps, nil
			}
			a = alu(in.Op, a, x)
		case bpf.TAX:
			x = a
		case bpf.TXA:
			a = x
		case bpf.Jump:
			pc += int(in.Skip)
		case bpf.JumpIf:
			pc += jumpSkip(in.Cond, a, in.Val, in.SkipTrue, in.SkipFalse)
		case bpf.JumpIfX:
			pc += jumpSkip(in.Cond, a, x, in.SkipTrue, in.SkipFalse)
		case bpf.RetConstant:
			return in.Val, steps, nil
		case bpf.RetA:
			return a, steps, nil
		default:
			return 0, steps, fmt.Errorf("runLenient: unsupported %T", in)
		}
	}
	return 0, steps, fmt.Errorf("runLenient: fell off the end")
}

func alu(op bpf.ALUOp, a, v uint32) uint32 {
	switch op {
	case bpf.ALUOpAdd:
		return a + v
	case bpf.ALUOpSub:
		return a - v
	case bpf.ALUOpMul:
		return a * v
	case bpf.ALUOpDiv:
		return a / v
	case bpf.ALUOpMod:
		return a % v
	case bpf.ALUOpOr:
		return a | v
	case bpf.ALUOpAnd:
		return a & v
	case bpf.ALUOpShiftLeft:
		return a << v
	case bpf.ALUOpShiftRight:
		return a >> v
	case bpf.ALUOpXor:
		return a ^ v
	}
	panic(fmt.Sprintf("alu op %v", op))
}

func jumpSkip(c bpf.JumpTest, a, v uint32, t, f uint8) int {
	var ok bool
	switch c {
	case bpf.JumpEqual:
		ok = a == v
	case bpf.JumpGreaterThan:
		ok = a > v
	case bpf.JumpGreaterOrEqual:
		ok = a >= v
	case bpf.JumpBitsSet:
		ok = a&v != 0
	case bpf.JumpNotEqual:
		ok = a != v
	case bpf.JumpLessThan:
		ok = a < v
	case bpf.JumpLessOrEqual:
		ok = a <= v
	case bpf.JumpBitsNotSet:
		ok = a&v == 0
	default:
		panic(fmt.Sprintf("jump %v", c))
	}
	if ok {
		return int(t)
	}
	return int(f)
}
