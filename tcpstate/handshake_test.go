package tcpstate

import (
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pktlab/pktlab/rawsock/header"
)

func TestHandshake(t *testing.T) {
	l := newLink(t, nil, nil)
	l.handshake()
	if diff := cmp.Diff([]State{SynSent, Established}, l.states(l.a)); diff != "" {
		t.Errorf("client states (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]State{Listen, SynReceived, Established}, l.states(l.b)); diff != "" {
		t.Errorf("server states (-want +got):\n%s", diff)
	}
	syn, synack, ack := l.sent[l.a][0], l.sent[l.b][0], l.sent[l.a][1]
	if m := (seg{Flags: header.TCPFlagSYN, Seq: v(l.a.iss)}).mismatch(&syn); m != "" {
		t.Errorf("SYN: %s", m)
	}
	if m := (seg{Flags: header.TCPFlagSYN | header.TCPFlagACK, Seq: v(l.b.iss), Ack: v(syn.Seq + 1)}).mismatch(&synack); m != "" {
		t.Errorf("SYN-ACK: %s", m)
	}
	if m := (seg{Flags: header.TCPFlagACK, Seq: v(syn.Seq + 1), Ack: v(synack.Seq + 1), Len: n(0)}).mismatch(&ack); m != "" {
		t.Errorf("ACK: %s", m)
	}
	o := &syn.Options
	if o.MSS != DefaultMSS || !o.SACKPermitted || !o.HasTS || !o.HasWScale || o.WScale != DefaultWScale {
		t.Errorf("SYN options %v, want mss 1460, sackOK, TS, wscale 7", o)
	}
	if !l.a.tsOK || !l.a.sackOK || l.a.sndWScale != DefaultWScale || l.a.sendMSS != DefaultMSS-12 {
		t.Errorf("negotiated: %+v", l.a.Info())
	}
	if got := l.events[l.a][len(l.events[l.a])-2]; got.Kind != EventStateChanged || got.Cause != "SYN-ACK acknowledges our SYN" {
		t.Errorf("client's ESTABLISHED event: %v", got)
	}
}

func TestHandshakeOptionsOff(t *testing.T) {
	l := newLink(t, &Config{NoSACK: true, NoTimestamps: true, NoWindowScale: true, MSS: 1360}, nil)
	l.handshake()
	if o := l.sent[l.a][0].Options; o.SACKPermitted || o.HasTS || o.HasWScale || o.MSS != 1360 {
		t.Errorf("SYN options %v, want only mss 1360", &o)
	}
	if o := l.sent[l.b][0].Options; o.SACKPermitted || o.HasTS || o.HasWScale {
		t.Errorf("SYN-ACK options %v: must not offer what the SYN lacked", &o)
	}
	if l.b.sendMSS != 1360 || l.b.tsOK || l.b.sackOK || l.b.sndWScale != 0 {
		t.Errorf("server negotiated %+v", l.b.Info())
	}
}

func TestConnectRefused(t *testing.T) {
	// C2: a SYN that reaches no connection draws RST/ACK with ack = SYN seq + 1,
	// and the connecting side fails with ECONNREFUSED.
	l := newLink(t, nil, nil)
	o, _ := l.a.Connect(l.now)
	l.take(l.a, o)
	l.deliver()
	expect(t, "reply to SYN in CLOSED", Output{Segments: l.sent[l.b]}, seg{Flags: header.TCPFlagRST | header.TCPFlagACK, Seq: v(0), Ack: v(l.a.iss + 1)})
	if l.a.State() != Closed || l.a.Err() != syscall.ECONNREFUSED {
		t.Fatalf("client %v, err %v; want CLOSED, ECONNREFUSED", l.a.State(), l.a.Err())
	}
}

func TestSimultaneousOpen(t *testing.T) {
	// C5: both send SYN; both go SYN-SENT → SYN-RECEIVED → ESTABLISHED with four
	// segments: two SYNs and two SYN-ACKs.
	l := newLink(t, nil, nil)
	oa, _ := l.a.Connect(l.now)
	l.take(l.a, oa)
	ob, _ := l.b.Connect(l.now)
	l.take(l.b, ob)
	l.deliver()
	for _, c := range []*Conn{l.a, l.b} {
		if diff := cmp.Diff([]State{SynSent, SynReceived, Established}, l.states(c)); diff != "" {
			t.Errorf("states (-want +got):\n%s\n%s", diff, l.causes(c))
		}
	}
	if got := len(l.sent[l.a]) + len(l.sent[l.b]); got != 4 {
		t.Errorf("%d segments, want 4 (SYN, SYN, SYN-ACK, SYN-ACK)", got)
	}
	for _, c := range []*Conn{l.a, l.b} {
		expect(t, "sent", Output{Segments: l.sent[c]}, seg{Flags: header.TCPFlagSYN}, seg{Flags: header.TCPFlagSYN | header.TCPFlagACK, Ack: v(l.peer(c).iss + 1)})
	}
}
