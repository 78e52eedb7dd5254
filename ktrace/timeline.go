package ktrace

import "github.com/pktlab/pktlab/timeline"

// SourceTracepoint is the Source of the timeline's KernelState events made from
// sock:inet_sock_set_state, beside sock_diag's.
const SourceTracepoint = "tracepoint"

// Record is the event as the timeline records it: a socket's state change or end
// as a KernelState, a retransmission (of a segment or a listener's SYN-ACK), a reset
// sent or received, a drop with its reason, and congestion samples and state changes.
// It returns nil for a state change of a socket that is not TCP (MPTCP's own sockets:
// their TCP subflows are reported).
func Record(ev Event) timeline.Data {
	switch e := ev.(type) {
	case *StateChange:
		if e.Protocol != 6 {
			return nil
		}
		return &timeline.KernelState{Local: e.Local, Remote: e.Remote, From: e.Old.String(), To: e.New.String(), Source: SourceTracepoint}
	case *Destroy:
		return &timeline.KernelState{Local: e.Local, Remote: e.Remote, From: stateName(e.State), To: timeline.StateGone, Source: "tcp_destroy_sock"}
	case *Retransmit:
		return &timeline.Retransmit{Local: e.Local, Remote: e.Remote, State: e.State.String(), Seq: e.Seq, EndSeq: e.EndSeq,
			Flags: e.Flags, CA: e.CA.String(), Err: e.Err}
	case *SynAckRetransmit:
		return &timeline.Retransmit{Local: e.Local, Remote: e.Remote, State: e.State.String(), SynAck: true}
	case *Reset:
		return &timeline.Reset{Sent: e.Sent, Local: e.Local, Remote: e.Remote, State: stateName(e.State), Reason: e.Reason, Packet: e.Packet}
	case *Drop:
		return &timeline.Drop{Reason: e.Reason, ReasonCode: e.ReasonCode, Location: e.Location, Packet: e.Packet,
			SockState: stateName(e.SockState), Local: e.SockTuple.Local, Remote: e.SockTuple.Remote}
	case *CongSample:
		return congestion(e.Tuple, e.Cong, "")
	case *CongState:
		return congestion(e.Tuple, e.Cong, e.New.String())
	}
	return nil
}

func congestion(t Tuple, c Cong, next string) *timeline.CongestionSample {
	return &timeline.CongestionSample{Local: t.Local, Remote: t.Remote, CA: c.CA.String(), NewCA: next,
		SndCwnd: c.SndCwnd, Ssthresh: c.Ssthresh, SRTT: c.SRTT, SndWnd: c.SndWnd, RcvWnd: c.RcvWnd,
		SndNxt: c.SndNxt, SndUna: c.SndUna, MSS: c.MSS, PacketsOut: c.PacketsOut, RetransOut: c.RetransOut}
}

// stateName is a state's name, "" for none (0).
func stateName(s State) string {
	if s == 0 {
		return ""
	}
	return s.String()
}
