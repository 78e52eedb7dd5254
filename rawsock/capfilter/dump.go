package capfilter

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// Dump formats a program the way tcpdump -d prints one (libpcap bpf_image.c), one
// "(NNN) op operand" line per instruction, jumps with absolute targets, so that
// pktlab's and tcpdump's programs can be read side by side.
func Dump(prog []bpf.Instruction) (string, error) {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return "", fmt.Errorf("capfilter: dump: %w", err)
	}
	return DumpRaw(raw), nil
}

// DumpRaw is Dump for an assembled program.
func DumpRaw(raw []bpf.RawInstruction) string {
	var b strings.Builder
	for n, ri := range raw {
		op, operand := image(ri, n)
		if ri.Op&0x07 == 0x05 && ri.Op&0xf0 != 0x00 { // BPF_JMP other than BPF_JA
			fmt.Fprintf(&b, "(%03d) %-8s %-16s jt %d\tjf %d\n", n, op, operand, n+1+int(ri.Jt), n+1+int(ri.Jf))
		} else {
			fmt.Fprintf(&b, "(%03d) %-8s %s\n", n, op, operand)
		}
	}
	return b.String()
}

// loadImage is image for BPF_LD and BPF_LDX (bpf_image.c): both load an immediate
// (BPF_IMM), a scratch cell (BPF_MEM) or the length (BPF_LEN); ld, ldh and ldb also
// read the packet (BPF_ABS, BPF_IND), ldx its nibble form (ldxb, BPF_MSH). ok is false
// for a mode the class does not have.
func loadImage(op uint16, k uint32) (name, arg string, ok bool) {
	ldx := op&0x07 == 0x01
	name = "ld"
	if ldx {
		name = "ldx"
	}
	switch mode := op & 0xe0; {
	case mode == 0x00:
		return name, fmt.Sprintf("#0x%x", k), true
	case mode == 0x60:
		return name, fmt.Sprintf("M[%d]", k), true
	case mode == 0x80:
		return name, "#pktlen", true
	case mode == 0x20 && !ldx:
		return loadSize[op&0x18], fmt.Sprintf("[%d]", k), true
	case mode == 0x40 && !ldx:
		return loadSize[op&0x18], fmt.Sprintf("[x + %d]", k), true
	case mode == 0xa0 && ldx:
		return "ldxb", fmt.Sprintf("4*([%d]&0xf)", k), true
	}
	return "", "", false
}

// loadSize is the mnemonic of a packet load by its size (BPF_W, BPF_H, BPF_B).
var loadSize = map[uint16]string{0x00: "ld", 0x08: "ldh", 0x10: "ldb"}

// image returns the mnemonic and operand of one instruction (bpf_image.c).
func image(ri bpf.RawInstruction, n int) (string, string) {
	k := ri.K
	switch cls := ri.Op & 0x07; cls {
	case 0x00, 0x01: // BPF_LD, BPF_LDX
		if name, arg, ok := loadImage(ri.Op, k); ok {
			return name, arg
		}
	case 0x02:
		return "st", fmt.Sprintf("M[%d]", k)
	case 0x03:
		return "stx", fmt.Sprintf("M[%d]", k)
	case 0x04: // BPF_ALU
		names := map[uint16]string{0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or",
			0x50: "and", 0x60: "lsh", 0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xa0: "xor"}
		name, ok := names[ri.Op&0xf0]
		if !ok {
			break
		}
		switch {
		case name == "neg":
			return name, ""
		case ri.Op&0x08 != 0:
			return name, "x"
		case name == "and" || name == "or" || name == "xor":
			return name, fmt.Sprintf("#0x%x", k)
		}
		return name, fmt.Sprintf("#%d", k)
	case 0x05: // BPF_JMP
		names := map[uint16]string{0x10: "jeq", 0x20: "jgt", 0x30: "jge", 0x40: "jset"}
		if ri.Op&0xf0 == 0x00 {
			return "ja", fmt.Sprintf("%d", n+1+int(k))
		}
		name, ok := names[ri.Op&0xf0]
		if !ok {
			break
		}
		if ri.Op&0x08 != 0 {
			return name, "x"
		}
		return name, fmt.Sprintf("#0x%x", k)
	case 0x06: // BPF_RET
		if ri.Op&0x18 == 0x10 {
			return "ret", ""
		}
		return "ret", fmt.Sprintf("#%d", k)
	case 0x07: // BPF_MISC
		if ri.Op&0xf8 == 0x00 {
			return "tax", ""
		}
		return "txa", ""
	}
	return "unimp", fmt.Sprintf("0x%x", ri.Op)
}
