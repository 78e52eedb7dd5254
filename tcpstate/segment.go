package tcpstate

import (
	"fmt"
	"strings"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate/seqnum"
)

// MaxSACKBlocks is how many SACK blocks fit in the option space beside timestamps
// (RFC 2018 §3: 3 with timestamps, 4 without).
const MaxSACKBlocks = 4

// SACKBlock is one block of a SACK option: bytes Left up to but not including Right
// were received (RFC 2018 §3).
type SACKBlock struct {
	Left, Right seqnum.Value
}

// Options are the TCP options the machine reads and writes. The zero value means
// "no options".
type Options struct {
	// MSS is the Maximum Segment Size option (kind 2, RFC 9293 §3.7.1); 0 = absent.
	MSS uint16
	// WScale is the shift count of the Window Scale option (kind 3, RFC 7323 §2),
	// valid when HasWScale.
	WScale    uint8
	HasWScale bool
	// SACKPermitted is the SACK-permitted option (kind 4, RFC 2018 §2).
	SACKPermitted bool
	// TSVal and TSEcr are the Timestamps option (kind 8, RFC 7323 §3), valid when HasTS.
	TSVal, TSEcr uint32
	HasTS        bool
	// SACK holds NumSACK blocks of a SACK option (kind 5, RFC 2018 §3).
	SACK    [MaxSACKBlocks]SACKBlock
	NumSACK int
}

// Blocks returns the SACK blocks.
func (o *Options) Blocks() []SACKBlock { return o.SACK[:o.NumSACK] }

// Segment is a TCP segment as the machine sees it: the header fields of RFC 9293
// §3.1 without addresses, ports and checksum, which the host handles.
type Segment struct {
	Seq     seqnum.Value // Sequence Number
	Ack     seqnum.Value // Acknowledgment Number, meaningful with the ACK flag
	Flags   header.TCPFlags
	Window  uint16 // Window field as sent, before scaling
	Options Options
	// Payload is the data. In segments returned by the machine it aliases the
	// connection's send buffer: it is valid until the next call on the Conn and
	// must not be modified.
	Payload []byte
}

// Len is SEG.LEN: the payload length plus one for SYN and one for FIN.
func (s *Segment) Len() seqnum.Size {
	n := seqnum.Size(len(s.Payload))
	if s.Flags&header.TCPFlagSYN != 0 {
		n++
	}
	if s.Flags&header.TCPFlagFIN != 0 {
		n++
	}
	return n
}

// End is SEG.SEQ + SEG.LEN.
func (s *Segment) End() seqnum.Value { return s.Seq.Add(s.Len()) }

// String is a tcpdump-like line with absolute numbers: "Flags [S.], seq 1, ack 2,
// win 5, options [mss 1460,sackOK,TS val 1 ecr 0,wscale 7], length 0".
func (s *Segment) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Flags [%s], seq %d", s.Flags, s.Seq)
	if n := len(s.Payload); n > 0 {
		fmt.Fprintf(&b, ":%d", uint32(s.Seq)+uint32(n))
	}
	if s.Flags&header.TCPFlagACK != 0 {
		fmt.Fprintf(&b, ", ack %d", s.Ack)
	}
	fmt.Fprintf(&b, ", win %d", s.Window)
	if o := s.Options.String(); o != "" {
		fmt.Fprintf(&b, ", options [%s]", o)
	}
	fmt.Fprintf(&b, ", length %d", len(s.Payload))
	return b.String()
}

// String lists the options the way tcpdump does.
func (o *Options) String() string {
	var parts []string
	if o.MSS != 0 {
		parts = append(parts, fmt.Sprintf("mss %d", o.MSS))
	}
	if o.SACKPermitted {
		parts = append(parts, "sackOK")
	}
	if o.HasTS {
		parts = append(parts, fmt.Sprintf("TS val %d ecr %d", o.TSVal, o.TSEcr))
	}
	if o.HasWScale {
		parts = append(parts, fmt.Sprintf("wscale %d", o.WScale))
	}
	if o.NumSACK > 0 {
		var bl []string
		for _, sb := range o.Blocks() {
			bl = append(bl, fmt.Sprintf("{%d:%d}", sb.Left, sb.Right))
		}
		parts = append(parts, fmt.Sprintf("sack %d %s", o.NumSACK, strings.Join(bl, "")))
	}
	return strings.Join(parts, ",")
}
