package tcpstate

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate/seqnum"
)

// ISN returns the initial sequence number of RFC 6528 §3:
//
//	ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//
// where M is a timer that ticks every 4 microseconds and F is SHA-256 over the
// connection's identifying tuple and the secret, truncated to 32 bits. Successive
// connections on one 4-tuple get increasing ISNs; different tuples get unrelated ones.
func ISN(secret [16]byte, local, remote netip.AddrPort, now time.Time) seqnum.Value {
	h := sha256.New()
	for _, ap := range []netip.AddrPort{local, remote} {
		a := ap.Addr().As16()
		h.Write(a[:])
		var p [2]byte
		binary.BigEndian.PutUint16(p[:], ap.Port())
		h.Write(p[:])
	}
	h.Write(secret[:])
	var sum [sha256.Size]byte
	f := binary.BigEndian.Uint32(h.Sum(sum[:0]))
	m := uint32(now.UnixNano() / int64(4*time.Microsecond))
	return seqnum.Value(m + f)
}

// Reset answers a segment that reaches no connection (state CLOSED), per RFC 9293
// §3.10.7.1: an incoming RST is discarded (ok false); otherwise, if the segment has
// no ACK the reply is <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, and if it has one
// the reply is <SEQ=SEG.ACK><CTL=RST>.
func Reset(seg *Segment) (rst Segment, ok bool) {
	if seg.Flags&header.TCPFlagRST != 0 {
		return Segment{}, false
	}
	if seg.Flags&header.TCPFlagACK == 0 {
		return Segment{Seq: 0, Ack: seg.End(), Flags: header.TCPFlagRST | header.TCPFlagACK}, true
	}
	return Segment{Seq: seg.Ack, Flags: header.TCPFlagRST}, true
}
