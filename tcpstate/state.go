package tcpstate

import "github.com/pktlab/pktlab/internal/enumname"

// State is a connection state of RFC 9293 §3.3.2.
type State uint8

// The eleven states, in the order of RFC 9293 §3.3.2.
const (
	Closed State = iota
	Listen
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
)

var stateNames = [...]string{
	Closed:      "CLOSED",
	Listen:      "LISTEN",
	SynSent:     "SYN-SENT",
	SynReceived: "SYN-RECEIVED",
	Established: "ESTABLISHED",
	FinWait1:    "FIN-WAIT-1",
	FinWait2:    "FIN-WAIT-2",
	CloseWait:   "CLOSE-WAIT",
	Closing:     "CLOSING",
	LastAck:     "LAST-ACK",
	TimeWait:    "TIME-WAIT",
}

func (s State) String() string { return enumname.Name(s, stateNames[:], "State(%d)") }

// synchronized reports whether the state is one of RFC 9293's synchronized states
// (ESTABLISHED and later), where §3.10.7.4 applies its full order of checks.
func (s State) synchronized() bool { return s >= Established }
