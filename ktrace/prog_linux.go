package ktrace

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// progSpec describes one raw tracepoint program: which of the tracepoint's
// arguments (the TP_PROTO of include/trace/events/{sock,tcp,skb}.h, checked against
// BTF by checkTracepoint) is the socket, which the skb, and which scalars to keep.
type progSpec struct {
	tracepoint string
	kind       uint8
	sk, skb    int        // argument index, -1 for none
	rxSk       bool       // kfree_skb: the socket is args[3] (rx_sk), else skb->sk
	scalars    [][2]int16 // {argument index, record offset}
	skProto    bool       // copy sock.sk_protocol
	full       bool       // the socket is a full socket: copy inet_sock.inet_sport
	cb         bool       // copy TCP_SKB_CB(skb) seq, end_seq, tcp_flags
	headers    bool       // copy the packet from skb's network header
	tcp        bool       // copy the tcp_sock fields and icsk_ca_state
	ca         bool       // copy icsk_ca_state only
	congestion bool       // attached only when Options.Congestion
	// noWakeup submits with BPF_RB_NO_WAKEUP: the reader is not woken for this
	// record but takes it with the next one, or at its next poll (pollPeriod). For
	// tcp_probe, one record per ACK: a wakeup each would cost more than the rest.
	noWakeup bool
}

var progSpecs = []progSpec{
	// inet_sock_set_state(const struct sock *sk, const int oldstate, const int newstate)
	{tracepoint: "inet_sock_set_state", full: true, kind: kindState, sk: 0, skb: -1, scalars: [][2]int16{{1, recArg1}, {2, recArg2}}, skProto: true},
	// tcp_retransmit_skb(const struct sock *sk, const struct sk_buff *skb, int err)
	{tracepoint: "tcp_retransmit_skb", full: true, kind: kindRetransmit, sk: 0, skb: 1, scalars: [][2]int16{{2, recArg1}}, cb: true, ca: true},
	// tcp_retransmit_synack(const struct sock *sk, const struct request_sock *req):
	// the request socket carries the 4-tuple and the state NEW_SYN_RECV.
	{tracepoint: "tcp_retransmit_synack", kind: kindSynAckRetransmit, sk: 1, skb: -1},
	// tcp_send_reset(const struct sock *sk, const struct sk_buff *skb, enum sk_rst_reason):
	// sk is NULL when no socket matched (the namespace then comes from skb->dev);
	// skb is NULL for an active reset (tcp_send_active_reset).
	{tracepoint: "tcp_send_reset", kind: kindResetSent, sk: 0, skb: 1, scalars: [][2]int16{{2, recArg1}}, headers: true},
	// tcp_receive_reset(struct sock *sk)
	{tracepoint: "tcp_receive_reset", full: true, kind: kindResetReceived, sk: 0, skb: -1},
	// tcp_probe(struct sock *sk, const struct sk_buff *skb)
	{tracepoint: "tcp_probe", full: true, kind: kindProbe, sk: 0, skb: -1, tcp: true, congestion: true, noWakeup: true},
	// tcp_cong_state_set(struct sock *sk, const u8 ca_state)
	{tracepoint: "tcp_cong_state_set", full: true, kind: kindCongState, sk: 0, skb: -1, scalars: [][2]int16{{1, recArg1}}, tcp: true},
	// tcp_destroy_sock(struct sock *sk)
	{tracepoint: "tcp_destroy_sock", full: true, kind: kindDestroy, sk: 0, skb: -1},
	// kfree_skb(struct sk_buff *skb, void *location, enum skb_drop_reason reason, struct sock *rx_sk)
	{tracepoint: "kfree_skb", kind: kindDrop, sk: 3, skb: 0, rxSk: true, scalars: [][2]int16{{2, recArg1}, {1, recArg2}}, headers: true},
}

// tcpFields are the tcp_sock members copied to recTCP, 4 bytes apart.
func (l *kernelLayout) tcpFields() []field {
	return []field{l.cwnd, l.ssthresh, l.srtt, l.sndWnd, l.rcvWnd, l.sndNxt, l.sndUna, l.mss, l.packetsOut, l.retransOut}
}

// Registers the programs keep across helper calls (R6-R9 are callee-saved).
const (
	rCtx = asm.R6 // struct bpf_raw_tracepoint_args *: args[i] at 8*i
	rRec = asm.R7 // the reserved record
	rSk  = asm.R8 // the socket, or 0
	rSkb = asm.R9 // the skb, or 0
)

// bpfRBNoWakeup is BPF_RB_NO_WAKEUP (include/uapi/linux/bpf.h).
const bpfRBNoWakeup = 1

// Stack slots.
const (
	stInum    = -8  // u32 resolved namespace inode (the map key)
	stScratch = -16 // u64 a pointer read by bpf_probe_read_kernel
	stSlot    = -24 // u32 stats slot index
	stNSValue = -32 // the namespace's map value (its lost counter)
	stBusy    = -40 // the primary's busy mark in the stats map, 0 in the backup
)

// role is which of a tracepoint's two programs is built. The kernel runs a raw
// tracepoint program at most once per CPU at a time: an event on a CPU where the
// same program is already running (a softirq that interrupted it in process
// context) is skipped, counted only in the program's recursion_misses
// (__bpf_trace_run in kernel/trace/bpf_trace.c). A CI run of the suite saw 2 to 20
// such misses of inet_sock_set_state per tracer, and a retransmission missing from
// E4's timeline while its frame was on the wire. So each tracepoint has a second
// program, the backup: the primary marks its CPU busy while it runs, and the
// backup records an event only when the mark is set, that is when the primary was
// interrupted and so missed it. Events both miss (in the few instructions before
// the mark is set or after it is cleared) are counted: Stats.Missed.
type role uint8

const (
	primary role = iota
	backup
)

// maps the programs use.
type progMaps struct {
	events, netns, stats *ebpf.Map
}

// builder emits one program with unique labels.
type builder struct {
	insns   asm.Instructions
	n       int
	statsFD int
}

func (b *builder) emit(ins ...asm.Instruction) { b.insns = append(b.insns, ins...) }

func (b *builder) newLabel(what string) string {
	b.n++
	return fmt.Sprintf("%s_%d", what, b.n)
}

// label places a jump target: a no-op on a register that always holds the context.
func (b *builder) label(name string) { b.emit(asm.Mov.Reg(rCtx, rCtx).WithSymbol(name)) }

// probeRead emits bpf_probe_read_kernel(fp+dstStack or rec+dstRec, size, src+off):
// dst is either a stack slot (onStack) or a record offset.
func (b *builder) probeRead(onStack bool, dst int16, size int32, src asm.Register, off int32) {
	if onStack {
		b.emit(asm.Mov.Reg(asm.R1, asm.RFP), asm.Add.Imm(asm.R1, int32(dst)))
	} else {
		b.emit(asm.Mov.Reg(asm.R1, rRec), asm.Add.Imm(asm.R1, int32(dst)))
	}
	b.emit(asm.Mov.Imm(asm.R2, size), asm.Mov.Reg(asm.R3, src))
	if off != 0 {
		b.emit(asm.Add.Imm(asm.R3, off))
	}
	b.emit(asm.FnProbeReadKernel.Call())
}

// derefInto reads the pointer at *(src+off) into dst (via the scratch slot), jumping
// to fail when the read faults or the pointer is NULL. src may equal dst.
func (b *builder) derefInto(dst, src asm.Register, off uint32, fail string) {
	b.emit(asm.JEq.Imm(src, 0, fail))
	b.probeRead(true, stScratch, 8, src, int32(off))
	b.emit(asm.JNE.Imm(asm.R0, 0, fail),
		asm.LoadMem(dst, asm.RFP, stScratch, asm.DWord),
		asm.JEq.Imm(dst, 0, fail))
}

// inumFrom tries one way to the namespace: follow the pointer chain from start
// (each offset dereferenced in turn, the last one giving a struct net *) and read
// net->ns.inum into the stack key, unless an earlier way already found it.
func (b *builder) inumFrom(l *kernelLayout, start asm.Register, chain ...uint32) {
	next := b.newLabel("inum_next")
	b.emit(asm.LoadMem(asm.R1, asm.RFP, stInum, asm.Word), asm.JNE.Imm(asm.R1, 0, next))
	b.emit(asm.Mov.Reg(asm.R4, start))
	for _, off := range chain {
		// R4 survives no call; keep the chain in the scratch slot between reads.
		b.derefInto(asm.R4, asm.R4, off, next)
	}
	b.probeRead(true, stInum, 4, asm.R4, int32(l.nsInum.off))
	b.label(next)
}

// build emits one of the two programs for a tracepoint; busy is the stats slot
// of the primary's busy mark.
func (s progSpec) build(l *kernelLayout, m progMaps, taiClock bool, r role, busy int32) asm.Instructions {
	b := &builder{statsFD: m.stats.FD()}
	b.emit(asm.Mov.Reg(rCtx, asm.R1),
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.RFP, stInum, asm.R1, asm.DWord),
		asm.StoreMem(asm.RFP, stScratch, asm.R1, asm.DWord),
		asm.StoreMem(asm.RFP, stBusy, asm.R1, asm.DWord),
		asm.Mov.Imm(rSk, 0), asm.Mov.Imm(rSkb, 0))
	b.busyMark(r, busy)
	if s.skb >= 0 {
		b.emit(asm.LoadMem(rSkb, rCtx, int16(8*s.skb), asm.DWord))
	}
	if s.sk >= 0 {
		b.emit(asm.LoadMem(rSk, rCtx, int16(8*s.sk), asm.DWord))
	}
	if s.rxSk {
		// No rx_sk: the socket the skb belongs to, if any.
		have := b.newLabel("have_sk")
		b.emit(asm.JNE.Imm(rSk, 0, have))
		b.derefInto(rSk, rSkb, l.skbSk.off, have)
		b.label(have)
	}

	// The namespace: the socket's, else the device's the skb is on, else the
	// skb's socket's (an skb being sent has no device before ip_output).
	if s.sk >= 0 && !s.rxSk {
		b.inumFrom(l, rSk, l.skNet.off)
	}
	if s.skb >= 0 {
		b.inumFrom(l, rSkb, l.skbDev.off, l.devNet.off)
	}
	if s.rxSk {
		b.inumFrom(l, rSk, l.skNet.off)
	}

	// Only namespaces someone subscribed to: the others cost a lookup, no ring space.
	b.emit(asm.LoadMapPtr(asm.R1, m.netns.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, stInum),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		asm.StoreMem(asm.RFP, stNSValue, asm.R0, asm.DWord))

	b.emit(asm.LoadMapPtr(asm.R1, m.events.FD()),
		asm.Mov.Imm(asm.R2, recSize), asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "lost"),
		asm.Mov.Reg(rRec, asm.R0),
		asm.Mov.Imm(asm.R1, 0))
	for off := int16(0); off < recSize; off += 8 {
		b.emit(asm.StoreMem(rRec, off, asm.R1, asm.DWord))
	}
	if taiClock {
		b.emit(asm.FnKtimeGetTaiNs.Call())
	} else {
		b.emit(asm.FnKtimeGetNs.Call())
	}
	b.emit(asm.StoreMem(rRec, recTime, asm.R0, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, stInum, asm.Word),
		asm.StoreMem(rRec, recNetNS, asm.R1, asm.Word),
		asm.StoreImm(rRec, recKind, int64(s.kind), asm.Byte),
		asm.StoreMem(rRec, recSK, rSk, asm.DWord))
	for _, sc := range s.scalars {
		b.emit(asm.LoadMem(asm.R1, rCtx, 8*sc[0], asm.DWord), asm.StoreMem(rRec, sc[1], asm.R1, asm.DWord))
	}

	noSk := b.newLabel("no_sk")
	b.emit(asm.JEq.Imm(rSk, 0, noSk))
	b.probeRead(false, recSock, int32(l.scLen()), rSk, 0)
	b.setIfOK(recHaveSock)
	if s.full {
		b.probeRead(false, recSport, 2, rSk, int32(l.sport.off))
		b.setIfOK(recHaveSport)
	}
	if s.skProto {
		b.probeRead(false, recSkProto, int32(l.skProtocol.size), rSk, int32(l.skProtocol.off))
	}
	if s.tcp || s.ca {
		b.probeRead(false, recCA, 1, rSk, int32(l.caState.off))
	}
	if s.tcp {
		for i, f := range l.tcpFields() {
			b.probeRead(false, int16(recTCP+4*i), int32(f.size), rSk, int32(f.off))
		}
		b.setIfOK(recHaveTCP)
	}
	b.label(noSk)

	if s.skb >= 0 && (s.cb || s.headers) {
		noSkb := b.newLabel("no_skb")
		b.emit(asm.JEq.Imm(rSkb, 0, noSkb))
		if s.cb {
			b.probeRead(false, recCBSeq, 4, rSkb, int32(l.skbCB.off+l.cbSeq.off))
			b.probeRead(false, recCBEndSeq, 4, rSkb, int32(l.skbCB.off+l.cbEndSeq.off))
			b.probeRead(false, recCBFlags, int32(l.cbFlags.size), rSkb, int32(l.skbCB.off+l.cbFlags.off))
		}
		b.probeRead(false, recNetHdr, 2, rSkb, int32(l.skbNetHdr.off))
		b.probeRead(false, recTransHdr, 2, rSkb, int32(l.skbTransHdr.off))
		b.probeRead(false, recSkbProto, 2, rSkb, int32(l.skbProto.off))
		b.probeRead(false, recSkbLen, 4, rSkb, int32(l.skbLen.off))
		b.setIfOK(recHaveSkb)
		if s.headers {
			// head + network_header, when the network header is set (~0 is unset).
			b.derefInto(asm.R4, rSkb, l.skbHead.off, noSkb)
			b.emit(asm.LoadMem(asm.R1, rRec, recNetHdr, asm.Half),
				asm.JEq.Imm(asm.R1, 0xffff, noSkb),
				asm.Add.Reg(asm.R4, asm.R1))
			b.probeRead(false, recHdr, recHdrLen, asm.R4, 0)
			b.setIfOK(recHaveHdr)
		}
		b.label(noSkb)
	}

	var submitFlags int32
	if s.noWakeup {
		submitFlags = bpfRBNoWakeup
	}
	b.emit(asm.Mov.Reg(asm.R1, rRec), asm.Mov.Imm(asm.R2, submitFlags), asm.FnRingbufSubmit.Call())
	b.count(statEmitted)
	b.emit(asm.Ja.Label("exit"))

	// The ring was full: count the event, per CPU and per namespace, instead of
	// losing it silently.
	b.emit(asm.LoadMem(asm.R0, asm.RFP, stNSValue, asm.DWord).WithSymbol("lost"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord))
	b.count(statLost)
	// The primary clears its busy mark on the way out.
	b.emit(asm.LoadMem(asm.R1, asm.RFP, stBusy, asm.DWord).WithSymbol("exit"),
		asm.JEq.Imm(asm.R1, 0, "return"),
		asm.Mov.Imm(asm.R2, 0), asm.StoreMem(asm.R1, 0, asm.R2, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("return"), asm.Return())
	return b.insns
}

// busyMark begins the primary by setting its CPU's busy mark (and keeping the
// mark's address in stBusy for the exit), and the backup by leaving at once unless
// the mark is set: then the primary is running on this CPU, was interrupted, and
// the kernel skipped it for this event. The backup counts the events it takes.
func (b *builder) busyMark(r role, busy int32) {
	b.emit(asm.StoreImm(asm.RFP, stSlot, int64(busy), asm.Word),
		asm.LoadMapPtr(asm.R1, b.statsFD), asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, stSlot),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"))
	if r == primary {
		b.emit(asm.Mov.Imm(asm.R1, 1), asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
			asm.StoreMem(asm.RFP, stBusy, asm.R0, asm.DWord))
		return
	}
	b.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord), asm.JEq.Imm(asm.R1, 0, "exit"))
	b.count(statRescued)
}

// setIfOK stores 1 at the record offset when the helper call just made returned 0.
func (b *builder) setIfOK(off int16) {
	skip := b.newLabel("fail")
	b.emit(asm.JNE.Imm(asm.R0, 0, skip), asm.StoreImm(rRec, off, 1, asm.Byte))
	b.label(skip)
}

// count adds one to a slot of the per-CPU stats array (atomically: a program on
// this CPU may be interrupted by one in softirq).
func (b *builder) count(slot int32) {
	done := b.newLabel("counted")
	b.emit(asm.StoreImm(asm.RFP, stSlot, int64(slot), asm.Word),
		asm.LoadMapPtr(asm.R1, b.statsFD), asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, stSlot),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord))
	b.label(done)
}
