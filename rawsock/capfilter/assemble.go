package capfilter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// MaxInstructions is the kernel's limit on a classic BPF program
// (BPF_MAXINSNS in include/uapi/linux/bpf_common.h).
const MaxInstructions = 4096

// Snaplen is what an accepting program returns: the number of bytes to keep. It is
// libpcap's MAXIMUM_SNAPLEN, so accepting programs are identical to tcpdump's; the
// kernel truncates it to the frame length (net/core/filter.c sk_filter_trim_cap).
const Snaplen = 262144

// layout turns the generated ops into instructions: labels become offsets, and a
// conditional jump whose target is more than 255 instructions away (its offsets are
// uint8, include/uapi/linux/filter.h struct sock_filter) becomes a short conditional
// jump over two unconditional "ja" jumps, whose offsets are 32 bits.
func layout(ops []op) ([]bpf.Instruction, error) {
	// far[i] is true when conditional jump ops[i] must go through ja trampolines.
	far := make([]bool, len(ops))
	for {
		addr, pos := addresses(ops, far)
		changed := false
		for i, o := range ops {
			if !o.isJump || far[i] {
				continue
			}
			if pos[o.jt]-addr[i]-1 > 255 || pos[o.jf]-addr[i]-1 > 255 {
				far[i] = true
				changed = true
			}
		}
		if !changed {
			return emitLayout(ops, far, addr, pos)
		}
	}
}

// addresses returns the instruction address of every op and of every label.
func addresses(ops []op, far []bool) (addr []int, pos map[label]int) {
	addr = make([]int, len(ops))
	pos = make(map[label]int)
	a := 0
	for i, o := range ops {
		addr[i] = a
		switch {
		case o.mark:
			pos[o.jt] = a
		case o.isJump && far[i]:
			a += 3
		default:
			a++
		}
	}
	return addr, pos
}

func emitLayout(ops []op, far []bool, addr []int, pos map[label]int) ([]bpf.Instruction, error) {
	var out []bpf.Instruction
	for i, o := range ops {
		switch {
		case o.mark:
		case o.isJa:
			out = append(out, bpf.Jump{Skip: uint32(pos[o.jt] - addr[i] - 1)})
		case o.isJump && far[i]:
			out = append(out, condJump(o, 0, 1),
				bpf.Jump{Skip: uint32(pos[o.jt] - addr[i] - 2)},
				bpf.Jump{Skip: uint32(pos[o.jf] - addr[i] - 3)})
		case o.isJump:
			out = append(out, condJump(o, uint8(pos[o.jt]-addr[i]-1), uint8(pos[o.jf]-addr[i]-1)))
		default:
			out = append(out, o.ins)
		}
	}
	if len(out) > MaxInstructions {
		return nil, fmt.Errorf("capfilter: program has %d instructions, more than the kernel's limit of %d (BPF_MAXINSNS): simplify the expression", len(out), MaxInstructions)
	}
	return out, nil
}

func condJump(o op, skipTrue, skipFalse uint8) bpf.Instruction {
	if o.useX {
		return bpf.JumpIfX{Cond: o.cond, SkipTrue: skipTrue, SkipFalse: skipFalse}
	}
	return bpf.JumpIf{Cond: o.cond, Val: o.val, SkipTrue: skipTrue, SkipFalse: skipFalse}
}
