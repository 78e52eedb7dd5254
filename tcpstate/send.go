package tcpstate

import (
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate/seqnum"
)

// emit appends a segment to the output: it fills the window and options, records
// what the segment acknowledges and adds its event.
func (c *Conn) emit(seg Segment, cause string) {
	if seg.Flags&header.TCPFlagRST == 0 {
		c.fillOptions(&seg)
		if seg.Flags&header.TCPFlagACK != 0 {
			seg.Window = c.windowField(seg.Flags&header.TCPFlagSYN != 0)
			c.lastAckSent = seg.Ack
			c.unacked = 0
			c.delackAt = time.Time{}
		} else if seg.Flags&header.TCPFlagSYN != 0 {
			seg.Window = uint16(min(c.cfg.ReceiveBuffer, 65535))
		}
	}
	c.stats.SegmentsOut++
	c.out.Segments = append(c.out.Segments, seg)
	c.out.Events = append(c.out.Events, Event{Time: c.now, Kind: EventSegmentSent, From: c.state, To: c.state, Segment: seg, Cause: cause})
}

// fillOptions adds the options of a SYN (RFC 9293 §3.7.1, RFC 7323, RFC 2018) or the
// timestamps and SACK blocks of later segments.
func (c *Conn) fillOptions(seg *Segment) {
	o := &seg.Options
	if seg.Flags&header.TCPFlagSYN != 0 {
		synack := seg.Flags&header.TCPFlagACK != 0
		o.MSS = c.cfg.MSS
		o.SACKPermitted = !c.cfg.NoSACK && (!synack || c.sackOK)
		if !c.cfg.NoTimestamps && (!synack || c.tsOK) {
			o.HasTS, o.TSVal = true, c.tsNow()
			if synack {
				o.TSEcr = c.tsRecent
			}
		}
		if !c.cfg.NoWindowScale && (!synack || c.wsOK) {
			o.HasWScale, o.WScale = true, c.rcvWScale
		}
		return
	}
	if c.tsOK {
		o.HasTS, o.TSVal, o.TSEcr = true, c.tsNow(), c.tsRecent
	}
	if c.sackOK && seg.Flags&header.TCPFlagACK != 0 && len(c.ooo) > 0 {
		c.sackBlocks(o)
	}
}

// tsNow is our TSval clock: milliseconds since the connection began, plus an offset
// (RFC 7323 §5.4).
func (c *Conn) tsNow() uint32 {
	return uint32(c.now.Sub(c.epoch)/time.Millisecond) + c.tsOffset
}

// windowField computes the Window field and moves the advertised right edge. The
// edge never moves left (RFC 9293 §3.8.6: shrinking the window is strongly
// discouraged) and moves right only by at least min(buffer/2, MSS), the receiver's
// silly window syndrome avoidance (RFC 9293 §3.8.6.2.2).
func (c *Conn) windowField(syn bool) uint16 {
	scale := c.rcvWScale
	if syn {
		scale = 0
	}
	free := max(c.cfg.ReceiveBuffer-len(c.rcvBuf), 0)
	w := min(free>>scale, 0xffff)
	right := c.rcvNxt.Add(seqnum.Size(w << scale))
	step := min(c.cfg.ReceiveBuffer/2, max(c.sendMSS, int(c.cfg.MSS)))
	if c.rcvRight.LessThan(c.rcvNxt) {
		c.rcvRight = c.rcvNxt
	}
	if !c.rcvRight.LessThan(right) || (int(c.rcvRight.Size(right)) < step && c.rcvRight != c.rcvNxt && free < c.cfg.ReceiveBuffer) {
		// Keep the old edge; round up so the field never advertises less, and
		// accept up to the rounded edge, since that is what the peer sees.
		gran := seqnum.Size(1)<<scale - 1
		f := min((c.rcvNxt.Size(c.rcvRight)+gran)>>scale, 0xffff)
		c.rcvRight = c.rcvNxt.Add(f << scale)
		return uint16(f)
	}
	c.rcvRight = right
	return uint16(w)
}

// ackSegment is a bare ACK: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
func (c *Conn) ackSegment() Segment {
	return Segment{Seq: c.sndNxt, Ack: c.rcvNxt, Flags: header.TCPFlagACK}
}

// sendSYN sends (or resends) our SYN, or SYN-ACK when synack.
func (c *Conn) sendSYN(synack bool, cause string) {
	seg := Segment{Seq: c.iss, Flags: header.TCPFlagSYN}
	if synack {
		seg.Flags |= header.TCPFlagACK
		seg.Ack = c.rcvNxt
	}
	if c.retries == 0 {
		c.rttTime = c.now
	}
	c.rtoAt = c.now.Add(c.rto)
	c.emit(seg, cause)
}

// sendReset sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>, as Linux's
// tcp_send_active_reset does.
func (c *Conn) sendReset(cause string) {
	c.emit(Segment{Seq: c.sndNxt, Ack: c.rcvNxt, Flags: header.TCPFlagRST | header.TCPFlagACK}, cause)
}

// sndEnd is the sequence number after the last queued byte (where the FIN goes).
func (c *Conn) sndEnd() seqnum.Value { return c.dataStart.Add(seqnum.Size(len(c.sndBuf))) }

func (c *Conn) canSend() bool {
	switch c.state {
	case Established, CloseWait, FinWait1, Closing, LastAck:
		return c.synAcked
	}
	return false
}

// output sends what the windows allow: lost segments first, then new data and the
// FIN. It then arms the retransmission or persist timer.
func (c *Conn) output() {
	if !c.canSend() {
		return
	}
	for {
		if (c.recovery || c.loss) && c.pipe() < c.cwnd && c.retransmitHole() {
			continue
		}
		if !c.sendNew() {
			break
		}
	}
	if c.sndUna != c.sndNxt && c.rtoAt.IsZero() {
		c.rtoAt = c.now.Add(c.rto)
	}
	pending := c.sndNxt.LessThan(c.sndEnd()) || (c.wrShut && !c.finSent)
	if pending && c.sndUna == c.sndNxt && c.sndWnd == 0 && c.persistAt.IsZero() {
		c.persistAt = c.now.Add(c.persistInterval())
	}
}

// retransmitHole resends the next unSACKed range below lostEdge from rtxNext on.
func (c *Conn) retransmitHole() bool {
	start := seqnum.Max(c.rtxNext, c.sndUna)
	for _, s := range c.sacked {
		if start.InRange(s.Left, s.Right) {
			start = s.Right
		}
	}
	if !start.LessThan(c.lostEdge) || !start.LessThan(c.sndNxt) {
		c.rtxNext = seqnum.Max(c.rtxNext, start)
		return false
	}
	end := seqnum.Min(start.Add(seqnum.Size(c.sendMSS)), seqnum.Min(c.lostEdge, c.sndNxt))
	for _, s := range c.sacked {
		if start.LessThan(s.Left) && s.Left.LessThan(end) {
			end = s.Left
		}
	}
	c.rtxNext = end
	c.stats.Retransmits++
	c.emit(c.dataSegment(start, end), "retransmission")
	return true
}

// dataSegment builds the segment carrying [start, end), with the FIN if end is past
// the data.
func (c *Conn) dataSegment(start, end seqnum.Value) Segment {
	dataEnd := c.sndEnd()
	fin := false
	if c.wrShut && dataEnd.LessThan(end) {
		fin, end = true, dataEnd
	}
	lo := int(c.dataStart.Size(start))
	hi := int(c.dataStart.Size(end))
	seg := Segment{Seq: start, Ack: c.rcvNxt, Flags: header.TCPFlagACK, Payload: c.sndBuf[lo:hi:hi]}
	if fin {
		seg.Flags |= header.TCPFlagFIN
	}
	if hi == len(c.sndBuf) && hi > lo {
		seg.Flags |= header.TCPFlagPSH
	}
	return seg
}

// sendNew sends one segment of new data (or the FIN) if the windows, Nagle
// (RFC 9293 §3.7.4) and sender SWS avoidance allow it.
func (c *Conn) sendNew() bool {
	end := c.sndEnd()
	avail := 0
	if c.sndNxt.LessThan(end) {
		avail = int(c.sndNxt.Size(end))
	}
	finDue := c.wrShut && !c.finSent
	if avail == 0 {
		if !finDue {
			return false
		}
		c.sendData(0, true)
		return true
	}
	right := c.sndUna.Add(seqnum.Size(c.sndWnd))
	usable := 0
	if c.sndNxt.LessThan(right) {
		usable = int(c.sndNxt.Size(right))
	}
	room := c.cwnd - c.pipe()
	n := min(avail, c.maxSegment(), usable, room)
	if n <= 0 {
		return false
	}
	idle := c.sndUna == c.sndNxt
	if n < c.sendMSS && n < avail {
		// Window- or cwnd-limited: wait for a full segment unless nothing is in
		// flight or the peer's window is half open (RFC 9293 §3.8.6.2.1).
		if !idle && n < int(c.maxSndWnd/2) {
			return false
		}
	}
	if n < c.sendMSS && n == avail && !c.cfg.NoDelay && !idle && !finDue {
		return false // Nagle: a small segment waits for the ACK of outstanding data
	}
	c.sendData(n, finDue && n == avail)
	return true
}

// maxSegment is the largest new-data segment: one MSS, or a whole number of MSS up
// to Config.MaxSegment for a host with segmentation offload.
func (c *Conn) maxSegment() int {
	if c.cfg.MaxSegment <= c.sendMSS {
		return c.sendMSS
	}
	return c.cfg.MaxSegment / c.sendMSS * c.sendMSS
}

func (c *Conn) sendData(n int, fin bool) {
	start := c.sndNxt
	end := start.Add(seqnum.Size(n))
	if fin {
		end++
		c.finSent = true
	}
	seg := c.dataSegment(start, end)
	c.sndNxt = end
	if !c.rttTiming && !c.tsOK {
		c.rttTiming, c.rttSeq, c.rttTime = true, start, c.now
	}
	cause := "data"
	if fin {
		cause = "FIN"
	}
	c.emit(seg, cause)
}

// flushAck sends the ACK a received segment owes: at once for every second segment,
// out-of-order data or when delayed ACKs are off; else when the delayed-ACK timer
// fires (RFC 9293 §3.8.6.3, RFC 5681 §4.2).
func (c *Conn) flushAck() {
	if c.unacked == 0 || !c.state.synchronized() {
		return
	}
	if c.unacked >= 2 || c.cfg.NoDelayedAck {
		c.emit(c.ackSegment(), "ACK")
		return
	}
	if c.delackAt.IsZero() {
		c.delackAt = c.now.Add(c.cfg.DelayedAck)
	}
}

// maybeWindowUpdate sends an ACK when reading opened the window by at least
// min(buffer/2, MSS) beyond what we advertised.
func (c *Conn) maybeWindowUpdate() {
	free := max(c.cfg.ReceiveBuffer-len(c.rcvBuf), 0)
	right := c.rcvNxt.Add(seqnum.Size(free))
	if !c.rcvRight.LessThan(right) {
		return
	}
	step := min(c.cfg.ReceiveBuffer/2, max(c.sendMSS, int(c.cfg.MSS)))
	if int(c.rcvRight.Size(right)) >= step || c.rcvRight == c.rcvNxt {
		c.emit(c.ackSegment(), "window update")
	}
}
