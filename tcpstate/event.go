package tcpstate

import (
	"fmt"
	"time"

	"github.com/pktlab/pktlab/internal/enumname"
)

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	EventSegmentReceived EventKind = iota + 1 // a segment reached the machine
	EventSegmentSent                          // the machine emitted a segment
	EventSegmentDropped                       // a received segment was discarded; Cause says why
	EventStateChanged                         // From → To, Cause says why
	EventTimerFired                           // a timer expired; Cause names it
	EventError                                // the connection failed with Err
)

var eventKindNames = [...]string{
	EventSegmentReceived: "segment-received",
	EventSegmentSent:     "segment-sent",
	EventSegmentDropped:  "segment-dropped",
	EventStateChanged:    "state-changed",
	EventTimerFired:      "timer-fired",
	EventError:           "error",
}

func (k EventKind) String() string { return enumname.Name(k, eventKindNames[:], "EventKind(%d)") }

// Event is one thing that happened to a connection, with its cause, so that a
// timeline can explain itself.
type Event struct {
	Time time.Time
	Kind EventKind
	// From and To are the states of a StateChanged event; To is also the state
	// after any other event.
	From, To State
	// Segment is the segment of a segment event (its Payload aliases the buffers
	// the segment came from or goes to, valid until the next call on the Conn).
	Segment Segment
	// Cause says why, citing the rule: "SYN-ACK acknowledges our SYN", "RFC 5961
	// §3.2 challenge ACK for in-window RST", "retransmission timeout".
	Cause string
	// Err is the connection's error for EventError.
	Err error
}

func (e Event) String() string {
	switch e.Kind {
	case EventStateChanged:
		return fmt.Sprintf("%s → %s: %s", e.From, e.To, e.Cause)
	case EventSegmentSent, EventSegmentReceived, EventSegmentDropped:
		dir := map[EventKind]string{EventSegmentSent: "out", EventSegmentReceived: "in", EventSegmentDropped: "drop"}[e.Kind]
		if e.Cause != "" {
			return fmt.Sprintf("%s %s (%s)", dir, e.Segment.String(), e.Cause)
		}
		return fmt.Sprintf("%s %s", dir, e.Segment.String())
	case EventError:
		return fmt.Sprintf("error: %v (%s)", e.Err, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Cause)
}

// Output is what an entry point of Conn returns: segments to send, in order, and the
// events that happened. Both slices are reused by the next call on the same Conn.
type Output struct {
	Segments []Segment
	Events   []Event
}
