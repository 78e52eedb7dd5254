package capfilter

import "golang.org/x/net/bpf"

// node is a boolean expression over a frame, the parser's output and the code
// generator's input. Implementations: *andNode, *orNode, *notNode, constNode,
// *testNode, *relNode.
type node interface{ isNode() }

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }

// constNode is a test whose result is known at compile time, e.g. "arp" on
// LinkTypeRaw frames, which carry no ARP.
type constNode bool

// loadMode says where a value is loaded from.
type loadMode int

const (
	// loadAbs loads Size bytes at Off from the start of the frame (ld/ldh/ldb [k]).
	loadAbs loadMode = iota
	// loadTransport4 loads Size bytes at Off from the start of the IPv4 payload:
	// ldxb 4*([nl]&0xf) then ld [x + nl + Off], as libpcap does for tcp[], udp[]
	// and IPv4 ports (gencode.c gen_loadx_iphdrlen).
	loadTransport4
	// loadLen loads the frame length (ld #pktlen).
	loadLen
)

// load names one value read from the frame.
type load struct {
	mode loadMode
	off  uint32 // frame offset (loadAbs) or payload offset (loadTransport4)
	size int    // 1, 2 or 4
	nl   uint32 // network-layer offset, for loadTransport4
}

// testNode is one comparison of a loaded value: (value & mask) cond val, where
// cond is one of the conditions classic BPF has (jeq, jgt, jge, jset). mask 0
// means none.
type testNode struct {
	ld   load
	mask uint32
	cond bpf.JumpTest
	val  uint32
}

// relNode is an arithmetic relation, "lhs op rhs" from pcap-filter(7), guarded by the
// protocol checks its loads need (tcp[13] needs an unfragmented IPv4 TCP packet).
type relNode struct {
	guard node // nil or the conjunction of protocol checks
	lhs   arith
	rhs   arith
	cond  bpf.JumpTest // jeq, jgt, jge (with neg) as in testNode
	neg   bool
}

func (*andNode) isNode()  {}
func (*orNode) isNode()   {}
func (*notNode) isNode()  {}
func (constNode) isNode() {}
func (*testNode) isNode() {}
func (*relNode) isNode()  {}

// and2/or2/not1 build nodes folding constants, so that "arp or ip" on
// LinkTypeRaw is just "ip", and a program that can never accept is detected.
func and2(l, r node) node {
	if c, ok := l.(constNode); ok {
		if !c {
			return c
		}
		return r
	}
	if c, ok := r.(constNode); ok {
		if !c {
			// l is still evaluated in libpcap's program only if it has side effects
			// on out-of-bounds loads; libpcap's optimizer drops it, so do we.
			return c
		}
		return l
	}
	return &andNode{l, r}
}

func or2(l, r node) node {
	if c, ok := l.(constNode); ok {
		if c {
			return c
		}
		return r
	}
	if c, ok := r.(constNode); ok {
		if c {
			return c
		}
		return l
	}
	if m, ok := mergeHost4(l, r); ok {
		return m
	}
	if m, ok := mergePorts(l, r); ok {
		return m
	}
	return &orNode{l, r}
}

func not1(x node) node {
	if c, ok := x.(constNode); ok {
		return !c
	}
	if n, ok := x.(*notNode); ok {
		return n.x
	}
	return &notNode{x}
}

// arith is an arithmetic expression: arithConst, arithLen, *arithLoad, *arithBin,
// *arithNeg.
type arith interface{ isArith() }

type arithConst uint32
type arithLen struct{}

// arithLoad is proto[index:size]: size bytes at index from the base of the layer.
type arithLoad struct {
	transport4 bool   // base is the IPv4 payload (X = IPv4 header length)
	base       uint32 // frame offset of the layer (or of the IPv4 header when transport4)
	index      arith
	size       int
}

type arithBin struct {
	op   bpf.ALUOp
	l, r arith
}

type arithNeg struct{ x arith }

func (arithConst) isArith() {}
func (arithLen) isArith()   {}
func (*arithLoad) isArith() {}
func (*arithBin) isArith()  {}
func (*arithNeg) isArith()  {}
