package ktrace

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"

	"github.com/pktlab/pktlab/internal/jsonschema"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/sockdiag"
	"github.com/pktlab/pktlab/timeline"
)

// kernel reads this kernel's layout (BTF is world-readable: no privileges needed).
func kernel(t testing.TB) *kernelLayout {
	t.Helper()
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	l, err := readLayout(spec)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLayoutFromBTF(t *testing.T) {
	l := kernel(t)
	// Facts of struct sock_common that have held since Linux 2.6 (include/net/sock.h):
	// the address pair, then the hash, then the port pair, then the family.
	for _, c := range []struct {
		f    field
		off  uint32
		size uint32
	}{{l.daddr, 0, 4}, {l.rcvSaddr, 4, 4}, {l.dport, 12, 2}, {l.num, 14, 2}, {l.family, 16, 2}, {l.state, 18, 1}, {l.v6Daddr, l.v6Daddr.off, 16}} {
		if c.f.off != c.off || c.f.size != c.size {
			t.Errorf("%s: offset %d size %d, want %d and %d", c.f.path, c.f.off, c.f.size, c.off, c.size)
		}
	}
	if l.caState.bitWidth != 5 {
		t.Errorf("icsk_ca_state is %d bits, want 5", l.caState.bitWidth)
	}
	found := map[string]bool{}
	for _, n := range l.drop {
		found[n] = true
	}
	for _, want := range []string{"NETFILTER_DROP", "NO_SOCKET", "TCP_INVALID_SEQUENCE", "OTHERHOST", "NOT_SPECIFIED", "TCP_CSUM"} {
		if !found[want] {
			t.Errorf("enum skb_drop_reason has no %s", want)
		}
	}
	if l.reset[0] != "NOT_SPECIFIED" {
		t.Errorf("sk_rst_reason 0 is %q, want NOT_SPECIFIED", l.reset[0])
	}
}

// record builds a ring record as a program would.
func record(kind uint8, fill func(r []byte)) []byte {
	r := make([]byte, recSize)
	binary.NativeEndian.PutUint64(r[recTime:], 1_000_000_000)
	binary.NativeEndian.PutUint32(r[recNetNS:], 4026531840)
	r[recKind] = kind
	fill(r)
	return r
}

func putSock4(l *kernelLayout, r []byte, local, remote netip.AddrPort, st sockdiag.State) {
	sc := r[recSock:]
	binary.NativeEndian.PutUint16(sc[l.family.off:], afInet)
	copy(sc[l.rcvSaddr.off:], local.Addr().AsSlice())
	copy(sc[l.daddr.off:], remote.Addr().AsSlice())
	binary.NativeEndian.PutUint16(sc[l.num.off:], local.Port())
	binary.BigEndian.PutUint16(sc[l.dport.off:], remote.Port())
	sc[l.state.off] = byte(st)
	r[recHaveSock] = 1
}

func TestDecode(t *testing.T) {
	l := kernel(t)
	wall := func(ns uint64) time.Time { return time.Unix(0, int64(ns)) }
	local, remote := netip.MustParseAddrPort("198.18.0.1:41000"), netip.MustParseAddrPort("198.18.0.2:80")
	hdr := Header{Time: time.Unix(1, 0), NetNS: 4026531840, Sock: 0xffff888100000000}
	syn := []byte{
		0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, // IPv4
		0xa0, 0x28, 0, 80, 0, 0, 0, 42, 0, 0, 0, 0, 0xa0, 0x02, 0xff, 0xff, 0, 0, 0, 0, // TCP SYN
	}
	for _, tc := range []struct {
		name string
		rec  []byte
		want Event
	}{
		{"state", record(kindState, func(r []byte) {
			putSock4(l, r, local, remote, sockdiag.SynSent)
			binary.NativeEndian.PutUint64(r[recSK:], hdr.Sock)
			binary.NativeEndian.PutUint64(r[recArg1:], uint64(sockdiag.SynSent))
			binary.NativeEndian.PutUint64(r[recArg2:], uint64(sockdiag.Established))
			binary.NativeEndian.PutUint16(r[recSkProto:], 6)
			// The socket's port was released (skc_num 0); inet_sport still has it.
			binary.NativeEndian.PutUint16(r[recSock+l.num.off:], 0)
			binary.BigEndian.PutUint16(r[recSport:], 41000)
			r[recHaveSport] = 1
		}), &StateChange{Header: hdr, Tuple: Tuple{local, remote}, Old: sockdiag.SynSent, New: sockdiag.Established, Protocol: 6}},
		{"reset without socket", record(kindResetSent, func(r []byte) {
			copy(r[recHdr:], syn)
			binary.BigEndian.PutUint16(r[recSkbProto:], 0x0800)
			r[recHaveHdr] = 1
			binary.NativeEndian.PutUint64(r[recArg1:], 1)
		}), &Reset{Header: Header{Time: hdr.Time, NetNS: hdr.NetNS}, Sent: true,
			Tuple: Tuple{netip.MustParseAddrPort("198.18.0.2:80"), netip.MustParseAddrPort("198.18.0.1:41000")}, Reason: l.reset[1],
			Packet: &Packet{Src: local.Addr(), Dst: remote.Addr(), Proto: 6, Length: 60, SrcPort: 41000, DstPort: 80, Seq: 42, Flags: header.TCPFlagSYN}}},
		{"retransmit", record(kindRetransmit, func(r []byte) {
			putSock4(l, r, local, remote, sockdiag.Established)
			binary.NativeEndian.PutUint32(r[recCBSeq:], 1000)
			binary.NativeEndian.PutUint32(r[recCBEndSeq:], 2448)
			binary.NativeEndian.PutUint16(r[recCBFlags:], uint16(header.TCPFlagACK|header.TCPFlagPSH))
			r[recCA] = byte(CALoss) << l.caState.bitShift
		}), &Retransmit{Header: Header{Time: hdr.Time, NetNS: hdr.NetNS}, Tuple: Tuple{local, remote}, State: sockdiag.Established,
			Seq: 1000, EndSeq: 2448, Flags: header.TCPFlagACK | header.TCPFlagPSH, CA: CALoss}},
		{"congestion sample", record(kindProbe, func(r []byte) {
			putSock4(l, r, local, remote, sockdiag.Established)
			for i, v := range []uint32{10, 7, 8 * 250, 65535, 131072, 5000, 4000, 1448, 3, 1} {
				binary.NativeEndian.PutUint32(r[recTCP+4*i:], v)
			}
		}), &CongSample{Header: Header{Time: hdr.Time, NetNS: hdr.NetNS}, Tuple: Tuple{local, remote}, Cong: Cong{SndCwnd: 10, Ssthresh: 7,
			SRTT: 250 * time.Microsecond, SndWnd: 65535, RcvWnd: 131072, SndNxt: 5000, SndUna: 4000, MSS: 1448, PacketsOut: 3, RetransOut: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.decode(tc.rec, wall)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := l.decode(make([]byte, recSize-1), wall); err == nil {
		t.Error("a short record decoded")
	}
}

func FuzzParsePacket(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, 0, 80, 0, 81, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x12, 0, 0, 0, 0, 0, 0}, uint16(0x0800))
	f.Add(make([]byte, 60), uint16(0x86dd))
	f.Fuzz(func(t *testing.T, b []byte, ethertype uint16) {
		if len(b) > recHdrLen {
			b = b[:recHdrLen]
		}
		p := parsePacket(b, ethertype)
		if p != nil && !p.Src.IsValid() {
			t.Fatalf("packet without a source address: %+v", p)
		}
	})
}

func TestClocks(t *testing.T) {
	tai := taiClock()
	if tai.Offset%1e9 != 0 || tai.Bound != 0 {
		t.Errorf("TAI clock offset %d ns bound %v: want whole seconds, exact", tai.Offset, tai.Bound)
	}
	mono := monoClock()
	if mono.Bound <= 0 || mono.Bound > time.Millisecond {
		t.Errorf("monotonic clock bound %v", mono.Bound)
	}
	// Now on CLOCK_MONOTONIC, converted, is now on CLOCK_REALTIME within the bound
	// plus the time between the two reads.
	before := time.Now()
	got := mono.wall(uint64(gettime(1 /* CLOCK_MONOTONIC */)))
	after := time.Now()
	if got.Before(before.Add(-mono.Bound)) || got.After(after.Add(mono.Bound)) {
		t.Errorf("converted monotonic now %v not within [%v, %v] ± %v", got, before, after, mono.Bound)
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []*Options{{RingSize: 1000}, {RingSize: 1 << 30}, {Buffer: -1}, {Buffer: 1 << 20}} {
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("options %+v accepted", *o)
		}
	}
	if v, err := (*Options)(nil).withDefaults(); err != nil || v.RingSize != defaultRing || v.Buffer != defaultBuffer {
		t.Errorf("nil options: %+v %v", v, err)
	}
}

func TestCAStateNames(t *testing.T) {
	for c, want := range map[CAState]string{CAOpen: "Open", CADisorder: "Disorder", CACWR: "CWR", CARecovery: "Recovery", CALoss: "Loss", 9: "CAState(9)"} {
		if c.String() != want {
			t.Errorf("CAState(%d) = %q, want %q", c, c.String(), want)
		}
	}
}

// TestRecord: every event becomes the timeline record docs/json.md describes for it,
// with its fields carried over, and a state change of a socket that is not TCP none.
func TestRecord(t *testing.T) {
	s, err := jsonschema.Load("../docs/json.md")
	if err != nil {
		t.Fatal(err)
	}
	tu := Tuple{netip.MustParseAddrPort("198.18.0.1:40000"), netip.MustParseAddrPort("198.18.0.2:80")}
	h := Header{Time: time.Unix(1000, 0), NetNS: 4026532000, Node: "a", Sock: 0xffff8880deadbeef}
	pkt := &Packet{Src: tu.Remote.Addr(), Dst: tu.Local.Addr(), Proto: 6, Length: 40, SrcPort: 80, DstPort: 40000, Flags: header.TCPFlagRST}
	cong := Cong{CA: CALoss, SndCwnd: 1, Ssthresh: 7, SRTT: 1500 * time.Microsecond}
	for _, tc := range []struct {
		ev   Event
		kind timeline.Kind
		text string
	}{
		{&StateChange{h, tu, sockdiag.SynSent, sockdiag.Established, 6}, timeline.KindKernelState, "198.18.0.1:40000 > 198.18.0.2:80: SYN_SENT → ESTABLISHED (tracepoint)"},
		{&Destroy{h, tu, sockdiag.TimeWait}, timeline.KindKernelState, "198.18.0.1:40000 > 198.18.0.2:80: TIME_WAIT → gone (tcp_destroy_sock)"},
		{&Retransmit{h, tu, sockdiag.SynSent, 1, 2, header.TCPFlagSYN, CALoss, 0}, timeline.KindRetransmit, "198.18.0.1:40000 > 198.18.0.2:80: retransmit seq 1:2 [S] in SYN_SENT, ca Loss"},
		{&SynAckRetransmit{h, tu, sockdiag.State(12)}, timeline.KindRetransmit, ""},
		{&Reset{h, false, tu, sockdiag.SynSent, "", nil}, timeline.KindReset, "198.18.0.1:40000 > 198.18.0.2:80: received RST in SYN_SENT"},
		{&Drop{h, "NO_SOCKET", 2, 0xffffffff81000000, pkt, 0, Tuple{}}, timeline.KindDrop, "drop NO_SOCKET: 198.18.0.2:80 > 198.18.0.1:40000 tcp [R] seq 0 ack 0"},
		{&CongSample{h, tu, cong}, timeline.KindCongestion, "198.18.0.1:40000 > 198.18.0.2:80: ca Loss cwnd 1 ssthresh 7 srtt 1.5ms"},
		{&CongState{h, tu, CARecovery, cong}, timeline.KindCongestion, "198.18.0.1:40000 > 198.18.0.2:80: ca Loss cwnd 1 ssthresh 7 srtt 1.5ms → ca Recovery"},
	} {
		d := Record(tc.ev)
		if d == nil || d.Kind() != tc.kind {
			t.Errorf("%T: record %T, want a %v", tc.ev, d, tc.kind)
			continue
		}
		tl := timeline.New(h.Time, nil)
		tl.Add(h.Time, h.Node, d)
		e := tl.Events()[0]
		if got := tl.Text(e); tc.text != "" && got != tc.text {
			t.Errorf("%T: text %q, want %q", tc.ev, got, tc.text)
		}
		var b bytes.Buffer
		r := tl.Record(e)
		r.NetNS, r.Sock = uint32(h.NetNS), h.Sock
		if err := timeline.WriteRecord(&b, r); err != nil {
			t.Fatal(err)
		}
		for _, err := range s.ValidateLines(b.Bytes()) {
			t.Errorf("%T: %v", tc.ev, err)
		}
	}
	if d := Record(&StateChange{h, tu, sockdiag.Close, sockdiag.SynSent, 262}); d != nil {
		t.Errorf("an MPTCP socket's state change is recorded as %v", d)
	}
}
