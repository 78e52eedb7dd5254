package ktrace

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/pktlab/pktlab/internal/jsonschema"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/sockdiag"
	"github.com/pktlab/pktlab/timeline"
)

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
