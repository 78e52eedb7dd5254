package ktrace_test

import (
	"context"
	"io"
	"net/netip"
	"testing"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/sockdiag"
)

// TestHandshakeRetransmissions: with the server's SYN-ACKs dropped at the client,
// the client retransmits its SYN (a Retransmit with the SYN flag in SYN_SENT) and the
// server its SYN-ACK for the request socket, in NEW_SYN_RECV.
func TestHandshakeRetransmissions(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab)
	a := lab.Node("a")
	srv, cli := netip.MustParseAddrPort("198.18.0.2:7012"), netip.MustParseAddrPort("198.18.0.1:41012")
	listen(t, lab.Node("b"), srv)
	inputFilter(t, a, "tcp flags & (syn | ack) == syn | ack drop")
	connectNB(t, a, cli, srv)
	synack := func(r *ktrace.SynAckRetransmit) bool {
		return r.State == sockdiag.NewSynRecv && r.Local == srv && r.Remote == cli
	}
	recs["b"].wait(t, "SYN-ACK retransmission in NEW_SYN_RECV", func(evs []ktrace.Event) bool { return has(evs, synack) })
	syn := func(r *ktrace.Retransmit) bool {
		return r.State == sockdiag.SynSent && r.Flags == header.TCPFlagSYN && r.Local == cli && r.Remote == srv && r.EndSeq == r.Seq+1
	}
	recs["a"].wait(t, "SYN retransmission in SYN_SENT", func(evs []ktrace.Event) bool { return has(evs, syn) })
}

// TestTimeoutRetransmission: data the server's firewall drops is retransmitted on
// the retransmission timer: the sender enters Loss (tcp_cong_state_set), then
// retransmits the segment in Loss, from the first unacknowledged byte.
func TestTimeoutRetransmission(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, &ktrace.Options{Congestion: true}, lab)
	c, s, cli, srv := connected(t, lab, recs, 13)
	// A segment for the client to receive: tcp_probe fires on it.
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	inputFilter(t, lab.Node("b"), "tcp dport 7013 tcp flags & psh == psh drop")
	if _, err := c.Write([]byte("lost on the way")); err != nil {
		t.Fatal(err)
	}
	rto := func(r *ktrace.Retransmit) bool {
		return r.Local == cli && r.Remote == srv && r.State == sockdiag.Established && r.CA == ktrace.CALoss && r.EndSeq-r.Seq == 15
	}
	evs := recs["a"].wait(t, "retransmission in Loss", func(evs []ktrace.Event) bool { return has(evs, rto) })
	var sample *ktrace.CongSample
	var loss *ktrace.CongState
	for _, ev := range evs {
		switch e := ev.(type) {
		case *ktrace.CongSample:
			if e.Local == cli && sample == nil {
				sample = e
			}
		case *ktrace.CongState:
			if e.Local == cli && e.New == ktrace.CALoss && loss == nil {
				loss = e
			}
		case *ktrace.Retransmit:
			if rto(e) {
				if loss == nil || loss.Time.After(e.Time) {
					t.Errorf("retransmission in Loss before the change to Loss:\n%s", dump(evs))
				}
				if e.Seq != loss.SndUna {
					t.Errorf("retransmitted seq %d, want snd_una %d", e.Seq, loss.SndUna)
				}
			}
		}
	}
	// tcp_probe fired for the server's segment.
	if sample == nil || sample.SndCwnd == 0 || sample.MSS == 0 || sample.SRTT == 0 || sample.RcvWnd == 0 || sample.SndNxt == 0 {
		t.Errorf("congestion sample %+v: want cwnd, MSS, srtt, rcv_wnd and snd_nxt set", sample)
	}
}

// TestLostEventsCounted: a tracer with the smallest ring and a subscriber that
// does not read loses events, and says how many, per namespace and in total; the
// rest arrive once the subscriber reads.
func TestLostEventsCounted(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	tr, err := ktrace.Open(&ktrace.Options{RingSize: 64 << 10, Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	sub, err := tr.SubscribeNode(lab.Node("a"))
	if err != nil {
		t.Fatal(err)
	}
	// 64 KiB holds about 200 records; 300 connections make about 2100 on node a.
	shortConnections(t, lab, netip.MustParseAddrPort("198.18.0.2:7014"), 300)
	got := 0
	drained := make(chan error, 1)
	go func() { drained <- tr.Drain(context.Background()) }()
	for {
		select {
		case <-sub.Events():
			got++
			continue
		case err := <-drained:
			if err != nil {
				t.Fatal(err)
			}
		}
		break
	}
	for len(sub.Events()) > 0 {
		<-sub.Events()
		got++
	}
	st := tr.Stats()
	t.Logf("received %d events; stats %+v; lost on node a %d", got, st, sub.Lost())
	if st.Lost == 0 || sub.Lost() != st.Lost {
		t.Errorf("lost %d in total, %d on node a: want the same, more than 0", st.Lost, sub.Lost())
	}
	if uint64(got) != st.Emitted || st.Emitted != st.Received {
		t.Errorf("got %d events, %d emitted, %d received", got, st.Emitted, st.Received)
	}
	if st.Emitted+st.Lost < 300*5 {
		t.Errorf("emitted %d + lost %d: fewer than the 1500 state changes of 300 connections", st.Emitted, st.Lost)
	}
}
