package host

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/pktlab/pktlab/internal/enumname"
	"github.com/pktlab/pktlab/tcpstate"
)

// EventKind says what a host Event reports.
type EventKind uint8

// Host event kinds.
const (
	EventTCP      EventKind = iota + 1 // a connection's tcpstate.Event, in TCP
	EventNeighbor                      // ARP / neighbour discovery answered or learnt
	EventPing                          // an echo request answered
	EventFirewall                      // the shared-mode nftables table changed
	EventError                         // a socket error the host survived
)

var eventKindNames = [...]string{
	EventTCP: "tcp", EventNeighbor: "neighbor", EventPing: "ping", EventFirewall: "firewall", EventError: "error",
}

func (k EventKind) String() string { return enumname.Name(k, eventKindNames[:], "EventKind(%d)") }

// Event is one thing the host did or saw.
type Event struct {
	// Time is on the host's clock (Config.Clock). A sent frame is stamped as it
	// leaves, after any BeforeSend pause and any wait for its next hop's MAC (TCP.Time
	// too), and its event comes just before the write (one that fails is followed by
	// an EventError); everything else is stamped when it happened.
	Time          time.Time
	Kind          EventKind
	Local, Remote netip.AddrPort // for EventTCP
	TCP           tcpstate.Event
	// Frame is the Ethernet frame of a segment event or of a neighbour/ping
	// reply (a copy, the caller may keep it).
	Frame []byte
	// Info is a snapshot of the connection's variables for EventTCP.
	Info tcpstate.Info
	Text string
}

func (e Event) String() string {
	if e.Kind == EventTCP {
		return fmt.Sprintf("%v %v: %v", e.Local, e.Remote, e.TCP)
	}
	return fmt.Sprintf("%v: %s", e.Kind, e.Text)
}

func (h *Host) hostEvent(k EventKind, text string) {
	if h.cfg.Events != nil {
		h.cfg.Events(Event{Time: h.clk.Now(), Kind: k, Text: text})
	}
}

// frameEvent reports a frame the host sent at at.
func (h *Host) frameEvent(k EventKind, text string, frame []byte, at time.Time) {
	if h.cfg.Events != nil {
		h.cfg.Events(Event{Time: at, Kind: k, Text: text, Frame: append([]byte(nil), frame...)})
	}
}
