package ktrace

import (
	"github.com/pktlab/pktlab/timeline"
)

// SourceTracepoint is the Source of the timeline's KernelState events made from
// sock:inet_sock_set_state, beside sock_diag's.
const SourceTracepoint = "tracepoint"

// Record returns the timeline's typed record of an event, with the event's node,
// or nil for what the timeline does not show: a Destroy (the CLOSE state change
// said it already), and a state change of another protocol than TCP (MPTCP's
// sockets fire sock:inet_sock_set_state too). The one conversion, shared by
// experiment runs and pktlab watch.
func Record(ev Event) timeline.Data {
	switch e := ev.(type) {
	case *StateChange:
		if e.Protocol != ipprotoTCP {
			return nil
		}
		return &timeline.KernelState{Local: e.Local, Remote: e.Remote, From: e.Old.String(), To: e.New.String(), Source: SourceTracepoint}
	case *Retransmit:
		return &timeline.Retransmit{Local: e.Local, Remote: e.Remote, State: stateName(e.State), Seq: e.Seq, EndSeq: e.EndSeq,
			Flags: e.Flags, CA: e.CA.String(), Err: e.Err}
	case *SynAckRetransmit:
		return &timeline.Retransmit{Local: e.Local, Remote: e.Remote, State: stateName(e.State), SynAck: true}
	case *Reset:
		return &timeline.Reset{Sent: e.Sent, Local: e.Local, Remote: e.Remote, State: stateName(e.State), Reason: e.Reason,
			Packet: e.Packet}
	case *Drop:
		return &timeline.Drop{Reason: e.Reason, ReasonCode: e.ReasonCode, Location: e.Location, Packet: e.Packet,
			SockState: stateName(e.SockState), Local: e.SockTuple.Local, Remote: e.SockTuple.Remote}
	case *CongSample:
		return congRecord(e.Tuple, &e.Cong, "")
	case *CongState:
		return congRecord(e.Tuple, &e.Cong, e.New.String())
	}
	return nil
}

const ipprotoTCP = 6

// stateName is "" for no state (an event without a socket).
func stateName(s State) string {
	if s == 0 {
		return ""
	}
	return s.String()
}

func congRecord(t Tuple, c *Cong, newCA string) *timeline.CongestionSample {
	return &timeline.CongestionSample{Local: t.Local, Remote: t.Remote, CA: c.CA.String(), NewCA: newCA,
		SndCwnd: c.SndCwnd, Ssthresh: c.Ssthresh, SRTT: c.SRTT, SndWnd: c.SndWnd, RcvWnd: c.RcvWnd,
		SndNxt: c.SndNxt, SndUna: c.SndUna, MSS: c.MSS, PacketsOut: c.PacketsOut, RetransOut: c.RetransOut}
}
