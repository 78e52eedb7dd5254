package ktrace

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// field is where a kernel struct member lives, read from the running kernel's BTF:
// its byte offset from the start of the struct named in the path, its size in bytes,
// and, for a bitfield, its bit shift and width inside the bytes at off.
type field struct {
	path       string
	off, size  uint32
	bitShift   uint32 // bitfields only
	bitWidth   uint32 // 0 when not a bitfield
	structName string
}

// kernelLayout is every offset the programs and the decoder use, all read from
// /sys/kernel/btf/vmlinux at Open, never hard-coded: a kernel built with another
// config or version moves these fields, and a wrong offset would attribute events
// to the wrong namespace.
type kernelLayout struct {
	// struct sock_common, at offset 0 of struct sock, struct request_sock
	// (__req_common) and struct inet_timewait_sock (__tw_common).
	daddr, rcvSaddr, dport, num, family, state, v6Daddr, v6RcvSaddr  field
	skNet                                                            field // sock_common.skc_net (possible_net_t, whose first member is struct net *net)
	skProtocol                                                       field // sock.sk_protocol
	sport                                                            field // inet_sock.inet_sport
	nsInum                                                           field // net.ns.inum
	devNet                                                           field // net_device.nd_net
	skbDev, skbSk, skbHead, skbNetHdr, skbTransHdr, skbProto, skbLen field
	skbCB                                                            field // sk_buff.cb (struct tcp_skb_cb for TCP)
	cbSeq, cbEndSeq, cbFlags                                         field // tcp_skb_cb
	caState                                                          field // inet_connection_sock.icsk_ca_state (a bitfield)
	cwnd, ssthresh, srtt, sndWnd, rcvWnd, sndNxt, sndUna, mss        field // tcp_sock
	packetsOut, retransOut                                           field // tcp_sock

	drop  map[uint64]string // enum skb_drop_reason, prefix SKB_DROP_REASON_ removed
	reset map[uint64]string // enum sk_rst_reason, prefix SK_RST_REASON_ removed
}

// scLen is how many bytes of struct sock_common the programs copy: enough to cover
// every sock_common field the decoder reads.
func (l *kernelLayout) scLen() uint32 {
	var n uint32
	for _, f := range []field{l.daddr, l.rcvSaddr, l.dport, l.num, l.family, l.state, l.v6Daddr, l.v6RcvSaddr} {
		n = max(n, f.off+f.size)
	}
	return n
}

// probeTracepoints are the raw tracepoints and the argument types the programs assume,
// checked against the kernel's btf_trace_<name> typedefs (the prototype
// TP_PROTO declares, after the leading void *): a kernel whose tracepoint has other
// arguments is refused at Open rather than read wrongly.
var probeTracepoints = map[string][]string{
	"inet_sock_set_state":   {"sock", "int", "int"},
	"tcp_retransmit_skb":    {"sock", "sk_buff", "int"},
	"tcp_retransmit_synack": {"sock", "request_sock"},
	"tcp_send_reset":        {"sock", "sk_buff", "sk_rst_reason"},
	"tcp_receive_reset":     {"sock"},
	"tcp_probe":             {"sock", "sk_buff"},
	"tcp_cong_state_set":    {"sock", "u8"},
	"tcp_destroy_sock":      {"sock"},
	"kfree_skb":             {"sk_buff", "void", "skb_drop_reason", "sock"},
}

// readLayout reads the kernel's BTF and resolves every field of kernelLayout.
func readLayout(spec *btf.Spec) (*kernelLayout, error) {
	r := &btfReader{spec: spec}
	l := &kernelLayout{}
	sc := func(name string) field { return r.field("sock_common", name) }
	l.daddr, l.rcvSaddr = sc("skc_daddr"), sc("skc_rcv_saddr")
	l.dport, l.num = sc("skc_dport"), sc("skc_num")
	l.family, l.state = sc("skc_family"), sc("skc_state")
	l.v6Daddr, l.v6RcvSaddr = sc("skc_v6_daddr"), sc("skc_v6_rcv_saddr")
	l.skNet = sc("skc_net")
	if c := r.field("sock", "__sk_common"); r.err == nil && c.off != 0 {
		r.fail(fmt.Errorf("struct sock: __sk_common at offset %d, not 0", c.off))
	}
	if c := r.field("request_sock", "__req_common"); r.err == nil && c.off != 0 {
		r.fail(fmt.Errorf("struct request_sock: __req_common at offset %d, not 0", c.off))
	}
	if n := r.field("possible_net_t", "net"); r.err == nil && (n.off != 0 || n.size != 8) {
		r.fail(fmt.Errorf("possible_net_t: net at offset %d size %d, not a pointer at 0", n.off, n.size))
	}
	l.skProtocol = r.field("sock", "sk_protocol")
	l.sport = r.field("inet_sock", "inet_sport")
	if sk := r.field("inet_sock", "sk"); r.err == nil && sk.off != 0 {
		r.fail(fmt.Errorf("struct inet_sock: sk at offset %d, not 0", sk.off))
	}
	l.nsInum = r.field("net", "ns.inum")
	l.devNet = r.field("net_device", "nd_net")
	sb := func(name string) field { return r.field("sk_buff", name) }
	l.skbDev, l.skbSk, l.skbHead = sb("dev"), sb("sk"), sb("head")
	l.skbNetHdr, l.skbTransHdr = sb("network_header"), sb("transport_header")
	l.skbProto, l.skbLen, l.skbCB = sb("protocol"), sb("len"), sb("cb")
	l.cbSeq, l.cbEndSeq = r.field("tcp_skb_cb", "seq"), r.field("tcp_skb_cb", "end_seq")
	l.cbFlags = r.field("tcp_skb_cb", "tcp_flags")
	l.caState = r.field("inet_connection_sock", "icsk_ca_state")
	if ic := r.field("tcp_sock", "inet_conn"); r.err == nil && ic.off != 0 {
		r.fail(fmt.Errorf("struct tcp_sock: inet_conn at offset %d, not 0", ic.off))
	}
	tp := func(name string) field { return r.field("tcp_sock", name) }
	l.cwnd, l.ssthresh, l.srtt = tp("snd_cwnd"), tp("snd_ssthresh"), tp("srtt_us")
	l.sndWnd, l.rcvWnd, l.sndNxt, l.sndUna = tp("snd_wnd"), tp("rcv_wnd"), tp("snd_nxt"), tp("snd_una")
	l.mss, l.packetsOut, l.retransOut = tp("mss_cache"), tp("packets_out"), tp("retrans_out")
	l.drop = r.enum("skb_drop_reason", "SKB_DROP_REASON_")
	l.reset = r.enum("sk_rst_reason", "SK_RST_REASON_")
	for name, args := range probeTracepoints {
		r.checkTracepoint(name, args)
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, r.err)
	}
	if l.scLen() > recSockLen {
		return nil, fmt.Errorf("%w: struct sock_common fields span %d bytes, more than the %d the record holds", ErrUnsupported, l.scLen(), recSockLen)
	}
	if l.cbFlags.size > 2 || l.caState.bitWidth == 0 || l.caState.size != 1 {
		return nil, fmt.Errorf("%w: tcp_skb_cb.tcp_flags is wider than 16 bits or icsk_ca_state is not a bitfield in one byte", ErrUnsupported)
	}
	return l, nil
}

// btfReader resolves names and keeps the first error, so readLayout reads as a list.
type btfReader struct {
	spec *btf.Spec
	err  error
}

func (r *btfReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// field resolves a dotted member path ("ns.inum") in the named struct. Members of
// anonymous unions and structs (most of sock_common and sk_buff) are found as if they
// were direct members, as C sees them.
func (r *btfReader) field(structName, path string) field {
	f := field{path: path, structName: structName}
	if r.err != nil {
		return f
	}
	var t btf.Type
	var s *btf.Struct
	if err := r.spec.TypeByName(structName, &s); err != nil {
		// possible_net_t is a typedef of an anonymous struct.
		var td *btf.Typedef
		if err2 := r.spec.TypeByName(structName, &td); err2 != nil {
			r.fail(fmt.Errorf("BTF has no struct %s: %w", structName, err))
			return f
		}
		t = td
	} else {
		t = s
	}
	var bits uint32
	for part := range strings.SplitSeq(path, ".") {
		m, off, ok := findMember(btf.UnderlyingType(t), part)
		if !ok {
			r.fail(fmt.Errorf("BTF: struct %s has no member %s", structName, path))
			return f
		}
		bits += off
		t = m.Type
		if m.BitfieldSize != 0 {
			f.bitWidth = uint32(m.BitfieldSize)
		}
	}
	size, err := btf.Sizeof(t)
	if err != nil {
		r.fail(fmt.Errorf("BTF: size of %s.%s: %w", structName, path, err))
		return f
	}
	if f.bitWidth != 0 {
		// Bitfields: read the byte that holds them; size is 1 when they fit in one.
		f.off = bits / 8
		f.bitShift = bits % 8
		f.size = 1
		if f.bitShift+f.bitWidth > 8 {
			f.size = uint32(size)
		}
		return f
	}
	if bits%8 != 0 {
		r.fail(fmt.Errorf("BTF: %s.%s is not byte-aligned", structName, path))
	}
	f.off, f.size = bits/8, uint32(size)
	return f
}

// findMember finds a member by name in a struct or union, looking into anonymous
// members, and returns its bit offset from the start of t.
func findMember(t btf.Type, name string) (btf.Member, uint32, bool) {
	var members []btf.Member
	switch c := t.(type) {
	case *btf.Struct:
		members = c.Members
	case *btf.Union:
		members = c.Members
	default:
		return btf.Member{}, 0, false
	}
	for _, m := range members {
		if m.Name == name {
			return m, uint32(m.Offset), true
		}
	}
	for _, m := range members {
		if m.Name == "" {
			if inner, off, ok := findMember(btf.UnderlyingType(m.Type), name); ok {
				return inner, uint32(m.Offset) + off, true
			}
		}
	}
	return btf.Member{}, 0, false
}

// enum reads an enum's names, without the common prefix the kernel gives them.
func (r *btfReader) enum(name, prefix string) map[uint64]string {
	if r.err != nil {
		return nil
	}
	var e *btf.Enum
	if err := r.spec.TypeByName(name, &e); err != nil {
		r.fail(fmt.Errorf("BTF has no enum %s: %w", name, err))
		return nil
	}
	m := make(map[uint64]string, len(e.Values))
	for _, v := range e.Values {
		m[v.Value] = strings.TrimPrefix(v.Name, prefix)
	}
	return m
}

// checkTracepoint compares a raw tracepoint's prototype (typedef btf_trace_NAME, a
// pointer to a function whose first parameter is the void *__data of the probe) with
// the argument types the program reads.
func (r *btfReader) checkTracepoint(name string, want []string) {
	if r.err != nil {
		return
	}
	var td *btf.Typedef
	if err := r.spec.TypeByName("btf_trace_"+name, &td); err != nil {
		r.fail(fmt.Errorf("kernel has no tracepoint %s (no btf_trace_%s in BTF): %w", name, name, err))
		return
	}
	ptr, ok := btf.UnderlyingType(td.Type).(*btf.Pointer)
	var proto *btf.FuncProto
	if ok {
		proto, ok = btf.UnderlyingType(ptr.Target).(*btf.FuncProto)
	}
	if !ok || len(proto.Params) != len(want)+1 {
		r.fail(fmt.Errorf("tracepoint %s: prototype %v, want (void *, %s)", name, td.Type, strings.Join(want, ", ")))
		return
	}
	for i, w := range want {
		if got := typeName(proto.Params[i+1].Type); got != w {
			r.fail(fmt.Errorf("tracepoint %s: argument %d is %s, want %s", name, i+1, got, w))
			return
		}
	}
}

// typeName is the name of a parameter's type without const, volatile and one level
// of pointer ("const struct sock *" → "sock", "const int" → "int", "void *" → "void").
func typeName(t btf.Type) string {
	for {
		switch q := t.(type) {
		case *btf.Const:
			t = q.Type
			continue
		case *btf.Volatile:
			t = q.Type
			continue
		case *btf.Pointer:
			if q.Target == nil {
				return "void"
			}
			t = q.Target
			continue
		case *btf.Void:
			return "void"
		}
		break
	}
	if t == nil {
		return "void"
	}
	return t.TypeName()
}
