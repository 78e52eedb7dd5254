package host

import (
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
)

// TCPOptions lays out a segment's options as the host puts them on the wire (Linux's
// order and NOPs, see tcpOptions), for other drivers of the machine: package drill
// plays scripts against a tcpstate.Conn without a host. The result does not alias o.
func TCPOptions(o *tcpstate.Options, syn bool) []layers.TCPOption {
	return newSerializer().tcpOptions(o, syn)
}

// SegmentOf converts a decoded TCP header into the machine's Segment, as the host
// does for every frame it receives. Payload aliases t's.
func SegmentOf(t header.TCP) tcpstate.Segment { return segmentOf(t) }
