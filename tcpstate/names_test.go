package tcpstate

import (
	"testing"

	"github.com/pktlab/pktlab/internal/enumname/enumtest"
)

func TestEnumNames(t *testing.T) {
	enumtest.Names(t, enumtest.Cases{
		EventSegmentReceived: "segment-received", EventSegmentSent: "segment-sent", EventSegmentDropped: "segment-dropped",
		EventStateChanged: "state-changed", EventTimerFired: "timer-fired", EventError: "error",
		EventKind(0): "EventKind(0)", EventKind(7): "EventKind(7)",
		Closed: "CLOSED", SynReceived: "SYN-RECEIVED", FinWait1: "FIN-WAIT-1", TimeWait: "TIME-WAIT", State(11): "State(11)",
	})
}
