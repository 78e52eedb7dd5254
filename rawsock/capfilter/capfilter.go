package capfilter

import (
	"errors"
	"fmt"

	"github.com/pktlab/pktlab/internal/enumname"
	"golang.org/x/net/bpf"
)

// LinkType says what a frame starts with. Values are pcap LINKTYPE_ numbers
// (https://www.tcpdump.org/linktypes.html).
type LinkType int

const (
	// LinkTypeEthernet: frames start with an Ethernet header (LINKTYPE_ETHERNET):
	// SOCK_RAW packet sockets and pcap files. tcpdump -y EN10MB.
	LinkTypeEthernet LinkType = 1
	// LinkTypeRaw: frames start with the IPv4 or IPv6 header (LINKTYPE_RAW), as on
	// SOCK_DGRAM ("cooked") packet sockets; the version nibble tells IPv4 from IPv6,
	// and link-layer primitives (ether, arp, vlan) match nothing or are refused.
	// tcpdump -y RAW.
	LinkTypeRaw LinkType = 101
)

var linkTypeNames = map[LinkType]string{LinkTypeEthernet: "Ethernet", LinkTypeRaw: "raw IP"}

func (l LinkType) String() string { return enumname.Lookup(l, linkTypeNames, "LinkType(%d)") }

// Compile compiles a pcap-filter(7) expression for frames of link type lt to a
// classic BPF program that returns Snaplen for matching frames and 0 otherwise.
// An empty expression matches every frame, as in tcpdump. Errors are *SyntaxError
// (with the position of the offending token) or *RejectsAllError.
func Compile(expr string, lt LinkType) ([]bpf.Instruction, error) {
	return compile(expr, lt, true)
}

// compile is Compile with the optimizer optional, so tests can check that
// optimizing never changes a verdict.
func compile(expr string, lt LinkType, opt bool) ([]bpf.Instruction, error) {
	if lt != LinkTypeEthernet && lt != LinkTypeRaw {
		return nil, fmt.Errorf("capfilter: unsupported link type %v: use LinkTypeEthernet or LinkTypeRaw", lt)
	}
	n, err := parse(expr, lt)
	if err != nil {
		return nil, err
	}
	if c, ok := n.(constNode); ok && !bool(c) {
		return nil, &RejectsAllError{Expr: expr, LinkType: lt}
	}
	g := &gen{}
	t, f := g.newLabel(), g.newLabel()
	g.cond(n, t, f)
	g.place(t)
	g.emit(bpf.RetConstant{Val: Snaplen})
	g.place(f)
	g.emit(bpf.RetConstant{Val: 0})
	if g.err != nil {
		return nil, g.err
	}
	if opt {
		return layout(dropDead(optimize(g.ops)))
	}
	return layout(g.ops)
}

// MustCompile is Compile for expressions known at build time; it panics on error.
func MustCompile(expr string, lt LinkType) []bpf.Instruction {
	prog, err := Compile(expr, lt)
	if err != nil {
		panic(err)
	}
	return prog
}

// Match runs prog over frame in the x/net/bpf VM and reports whether it accepts it.
// It builds a VM per call; use Filter to run one program over many frames.
func Match(prog []bpf.Instruction, frame []byte) (bool, error) {
	vm, err := bpf.NewVM(prog)
	if err != nil {
		return false, fmt.Errorf("capfilter: load program into BPF VM: %w", err)
	}
	n, err := vm.Run(frame)
	if err != nil {
		return false, fmt.Errorf("capfilter: run program: %w", err)
	}
	return n != 0, nil
}

// Filter is a compiled expression ready to run over many frames.
type Filter struct {
	expr string
	lt   LinkType
	prog []bpf.Instruction
	raw  []bpf.RawInstruction
	vm   *bpf.VM
}

// New compiles expr for lt and prepares it for Match and for attaching to a socket.
func New(expr string, lt LinkType) (*Filter, error) {
	prog, err := Compile(expr, lt)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("capfilter: assemble %q: %w", expr, err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		return nil, fmt.Errorf("capfilter: load %q into BPF VM: %w", expr, err)
	}
	return &Filter{expr: expr, lt: lt, prog: prog, raw: raw, vm: vm}, nil
}

// String returns the expression the filter was compiled from.
func (f *Filter) String() string { return f.expr }

// LinkType returns the link type the filter was compiled for.
func (f *Filter) LinkType() LinkType { return f.lt }

// Instructions returns the program. The caller must not modify it.
func (f *Filter) Instructions() []bpf.Instruction { return f.prog }

// Raw returns the assembled program, as SO_ATTACH_FILTER takes it
// (e.g. mdlayher/packet's Conn.SetBPF). The caller must not modify it.
func (f *Filter) Raw() []bpf.RawInstruction { return f.raw }

// Match reports whether the filter accepts frame. It does not allocate.
func (f *Filter) Match(frame []byte) bool {
	n, err := f.vm.Run(frame)
	return err == nil && n != 0
}

// IsSyntax reports whether err is a *SyntaxError.
func IsSyntax(err error) bool {
	var se *SyntaxError
	return errors.As(err, &se)
}
