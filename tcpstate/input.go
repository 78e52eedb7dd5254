package tcpstate

import (
	"fmt"
	"syscall"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate/seqnum"
)

// HandleSegment processes one arriving segment (RFC 9293 §3.10.7, SEGMENT ARRIVES)
// and returns the segments to send in reply and the events. seg.Payload may be
// retained (copied when held out of order) only as long as the call.
func (c *Conn) HandleSegment(now time.Time, seg *Segment) Output {
	c.begin(now)
	c.stats.SegmentsIn++
	c.out.Events = append(c.out.Events, Event{Time: now, Kind: EventSegmentReceived, From: c.state, To: c.state, Segment: *seg})
	switch c.state {
	case Closed:
		c.closedInput(seg)
	case Listen:
		c.listenInput(seg)
	case SynSent:
		c.synSentInput(seg)
	default:
		c.otherInput(seg)
	}
	c.flushAck()
	return c.out
}

func (c *Conn) drop(seg *Segment, cause string) {
	c.stats.Dropped++
	c.out.Events = append(c.out.Events, Event{Time: c.now, Kind: EventSegmentDropped, From: c.state, To: c.state, Segment: *seg, Cause: cause})
}

// closedInput is §3.10.7.1: CLOSED answers everything but a RST with a RST.
func (c *Conn) closedInput(seg *Segment) {
	rst, ok := Reset(seg)
	if !ok {
		c.drop(seg, "RST in CLOSED (RFC 9293 §3.10.7.1)")
		return
	}
	c.emit(rst, "segment for a closed connection: RST (RFC 9293 §3.10.7.1)")
}

// listenInput is §3.10.7.2.
func (c *Conn) listenInput(seg *Segment) {
	switch {
	case seg.Flags&header.TCPFlagRST != 0:
		c.drop(seg, "RST in LISTEN is ignored (RFC 9293 §3.10.7.2)")
	case seg.Flags&header.TCPFlagACK != 0:
		c.emit(Segment{Seq: seg.Ack, Flags: header.TCPFlagRST}, "ACK in LISTEN: <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.2)")
	case seg.Flags&header.TCPFlagSYN != 0:
		c.initSend()
		c.irs = seg.Seq
		c.rcvNxt = seg.Seq.Add(1)
		c.rcvRight = c.rcvNxt
		c.negotiate(seg)
		c.sndWnd = uint32(seg.Window) // never scaled in a SYN (RFC 7323 §2.2)
		c.maxSndWnd = c.sndWnd
		c.sndWl1, c.sndWl2 = seg.Seq, c.iss
		c.sendSYN(true, "SYN received: snd SYN,ACK")
		c.setState(SynReceived, "SYN received in LISTEN: snd SYN,ACK")
	default:
		c.drop(seg, "neither SYN, ACK nor RST in LISTEN (RFC 9293 §3.10.7.2)")
	}
}

// synSentInput is §3.10.7.3.
func (c *Conn) synSentInput(seg *Segment) {
	hasACK := seg.Flags&header.TCPFlagACK != 0
	if hasACK && (seg.Ack.LessThanEq(c.iss) || c.sndNxt.LessThan(seg.Ack)) {
		if seg.Flags&header.TCPFlagRST != 0 {
			c.drop(seg, "RST with an unacceptable ACK in SYN-SENT")
			return
		}
		c.drop(seg, "ACK does not acknowledge our SYN (RFC 9293 §3.10.7.3)")
		c.emit(Segment{Seq: seg.Ack, Flags: header.TCPFlagRST}, "unacceptable ACK in SYN-SENT: <SEQ=SEG.ACK><CTL=RST>")
		return
	}
	if seg.Flags&header.TCPFlagRST != 0 {
		if !hasACK {
			c.drop(seg, "RST without ACK in SYN-SENT is ignored (RFC 9293 §3.10.7.3)")
			return
		}
		c.fail(syscall.ECONNREFUSED, "RST acknowledges our SYN: connection refused")
		return
	}
	if seg.Flags&header.TCPFlagSYN == 0 {
		c.drop(seg, "no SYN and no RST in SYN-SENT")
		return
	}
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq.Add(1)
	c.rcvRight = c.rcvNxt
	c.negotiate(seg)
	c.sndWnd = uint32(seg.Window)
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = seg.Seq, seg.Ack
	if hasACK {
		c.ackSYN(seg.Ack)
		c.sndWl2 = seg.Ack
		c.setState(Established, "SYN-ACK acknowledges our SYN")
		c.emit(c.ackSegment(), "ACK of the SYN-ACK")
		c.output()
		return
	}
	// Simultaneous open (RFC 9293 §3.5 Figure 7): their SYN crossed ours.
	c.sendSYN(true, "SYN crossed ours: snd SYN,ACK")
	c.setState(SynReceived, "SYN received in SYN-SENT: simultaneous open")
}

// ackSYN records that ack covers our SYN: a first RTT sample and the congestion
// window (RFC 6298 §2.2, RFC 6928).
func (c *Conn) ackSYN(ack seqnum.Value) {
	c.synAcked = true
	if c.retries == 0 && !c.rttTime.IsZero() {
		c.rttSample(c.now.Sub(c.rttTime))
	}
	c.sndUna = ack
	c.rtxNext, c.lostEdge, c.highSack = ack, ack, ack
	c.retries = 0
	c.rtoAt = time.Time{}
	c.cwnd = initialCwndSegs * c.sendMSS
	c.ssthresh = 1 << 30
}

// otherInput is §3.10.7.4, for SYN-RECEIVED and the synchronized states, in its
// order: sequence number, RST, SYN, ACK, text, FIN.
func (c *Conn) otherInput(seg *Segment) {
	c.lastRecv = c.now
	c.keepProbes = 0
	c.armKeepalive()
	if c.state == TimeWait && seg.Flags&header.TCPFlagFIN != 0 && seg.Flags&header.TCPFlagRST == 0 && seg.End() == c.rcvNxt {
		// Linux tcp_timewait_state_process: a retransmitted FIN is acknowledged
		// again and the TIME-WAIT timer restarts (RFC 9293 §3.10.7.4, eighth).
		c.timeWaitAt = c.now.Add(c.cfg.TimeWait)
		c.emit(c.ackSegment(), "retransmitted FIN in TIME-WAIT: ACK again, restart the TIME-WAIT timer")
		return
	}
	if c.state == SynReceived && seg.Flags&(header.TCPFlagSYN|header.TCPFlagACK|header.TCPFlagRST) == header.TCPFlagSYN && seg.Seq == c.irs {
		c.sendSYN(true, "retransmitted SYN in SYN-RECEIVED: snd SYN,ACK again")
		return
	}
	if c.paws(seg) {
		return
	}
	// Linux tcp_validate_incoming: in SYN-RECEIVED a SYN-ACK that crosses ours
	// (simultaneous open) is processed rather than treated as an old SYN.
	simOpen := c.state == SynReceived && seg.Flags&(header.TCPFlagSYN|header.TCPFlagACK) == header.TCPFlagSYN|header.TCPFlagACK &&
		seg.Seq.Add(1) == c.rcvNxt && seg.Ack == c.sndNxt
	if !simOpen {
		if !c.acceptable(seg) {
			if seg.Flags&header.TCPFlagRST != 0 {
				c.drop(seg, "RST outside the window (RFC 9293 §3.10.7.4)")
				return
			}
			c.drop(seg, "sequence number not acceptable (RFC 9293 §3.10.7.4): snd ACK")
			c.emit(c.ackSegment(), "ACK for an unacceptable segment")
			return
		}
		c.trim(seg)
	}
	if seg.Flags&header.TCPFlagRST != 0 {
		c.rstInput(seg)
		return
	}
	if seg.Flags&header.TCPFlagSYN != 0 && !simOpen {
		c.drop(seg, "SYN in a synchronized state")
		c.challengeACK("RFC 5961 §4.2 challenge ACK for a SYN")
		return
	}
	if seg.Flags&header.TCPFlagACK == 0 {
		c.drop(seg, "no ACK bit (RFC 9293 §3.10.7.4, fifth check)")
		return
	}
	if !c.synAcked && !c.synReceivedACK(seg, simOpen) {
		return
	}
	if !c.ackInput(seg) {
		return
	}
	if c.state == Closed || c.state == TimeWait {
		return
	}
	fin := c.textInput(seg)
	if c.state == Closed {
		return
	}
	if fin {
		c.finInput()
	}
	c.output()
}

// paws is RFC 7323 §5.3: a segment whose TSval is older than TS.Recent is a
// duplicate from an earlier incarnation of the sequence space; drop it with an ACK.
func (c *Conn) paws(seg *Segment) bool {
	o := &seg.Options
	if !c.tsOK || !o.HasTS || !c.tsRecentSet || seg.Flags&header.TCPFlagRST != 0 {
		return false
	}
	if int32(o.TSVal-c.tsRecent) >= 0 {
		return false
	}
	c.drop(seg, fmt.Sprintf("PAWS: TSval %d older than TS.Recent %d (RFC 7323 §5.3)", o.TSVal, c.tsRecent))
	c.emit(c.ackSegment(), "ACK for a segment rejected by PAWS")
	return true
}

// acceptable is the four-case test of RFC 9293 §3.10.7.4.
func (c *Conn) acceptable(seg *Segment) bool {
	wnd := seqnum.Size(0)
	if c.rcvNxt.LessThan(c.rcvRight) {
		wnd = c.rcvNxt.Size(c.rcvRight)
	}
	n := seg.Len()
	switch {
	case n == 0 && wnd == 0:
		return seg.Seq == c.rcvNxt
	case n == 0:
		return seg.Seq.InWindow(c.rcvNxt, wnd)
	case wnd == 0:
		return false
	}
	return seg.Seq.InWindow(c.rcvNxt, wnd) || seg.Seq.Add(n-1).InWindow(c.rcvNxt, wnd)
}

// trim cuts a segment to the window: bytes before RCV.NXT are old and bytes past
// the right edge are not accepted (RFC 9293 §3.10.7.4, "segments ... straddle").
func (c *Conn) trim(seg *Segment) {
	if seg.Seq.LessThan(c.rcvNxt) {
		d := seg.Seq.Size(c.rcvNxt)
		if seg.Flags&header.TCPFlagSYN != 0 {
			seg.Flags &^= header.TCPFlagSYN
			seg.Seq++
			d--
		}
		if int(d) > len(seg.Payload) {
			d = seqnum.Size(len(seg.Payload))
		}
		seg.Payload = seg.Payload[d:]
		seg.Seq = seg.Seq.Add(d)
	}
	if right := c.rcvRight; right.LessThan(seg.End()) {
		keep := int(seg.Seq.Size(right))
		if keep < 0 || keep > len(seg.Payload) {
			keep = 0
		}
		if seg.Seq.LessThan(right) || keep == 0 {
			seg.Payload = seg.Payload[:keep]
			seg.Flags &^= header.TCPFlagFIN
		}
	}
}

// rstInput is the second check: RFC 5961 §3.2 accepts only a RST at exactly
// RCV.NXT and challenges any other in-window RST.
func (c *Conn) rstInput(seg *Segment) {
	if seg.Seq != c.rcvNxt {
		c.drop(seg, "in-window RST not at RCV.NXT")
		c.challengeACK("RFC 5961 §3.2 challenge ACK for an in-window RST")
		return
	}
	switch c.state {
	case SynReceived:
		if c.passive {
			c.relistened = true
			c.setState(Listen, "RST in SYN-RECEIVED: back to LISTEN (RFC 9293 §3.10.7.4)")
			c.stopTimers()
			return
		}
		c.fail(syscall.ECONNREFUSED, "RST in SYN-RECEIVED after an active open: connection refused")
	case Established, FinWait1, FinWait2, CloseWait:
		c.fail(syscall.ECONNRESET, "RST received: connection reset by peer")
	default:
		c.setState(Closed, "RST received in "+c.state.String())
	}
}

func (c *Conn) challengeACK(cause string) {
	c.stats.ChallengeACKs++
	c.emit(c.ackSegment(), cause)
}

// synReceivedACK is the fifth check in SYN-RECEIVED: an ACK of our SYN completes
// the handshake; any other ACK draws <SEQ=SEG.ACK><CTL=RST>.
func (c *Conn) synReceivedACK(seg *Segment, simOpen bool) bool {
	if !c.sndUna.LessThan(seg.Ack) || c.sndNxt.LessThan(seg.Ack) {
		c.drop(seg, "ACK in SYN-RECEIVED does not acknowledge our SYN")
		c.emit(Segment{Seq: seg.Ack, Flags: header.TCPFlagRST}, "unacceptable ACK in SYN-RECEIVED: <SEQ=SEG.ACK><CTL=RST>")
		return false
	}
	c.ackSYN(c.iss.Add(1))
	win := uint32(seg.Window) << c.sndWScale
	if simOpen {
		win = uint32(seg.Window)
	}
	c.sndWnd, c.sndWl1, c.sndWl2 = win, seg.Seq, seg.Ack
	c.maxSndWnd = max(c.maxSndWnd, win)
	switch {
	case simOpen:
		c.setState(Established, "SYN-ACK acknowledges our SYN: simultaneous open complete")
	case c.state == SynReceived:
		c.setState(Established, "ACK acknowledges our SYN-ACK")
	}
	return true
}

// finInput is the eighth check, for a FIN that arrived in order.
func (c *Conn) finInput() {
	switch c.state {
	case SynReceived, Established:
		c.setState(CloseWait, "FIN received: snd ACK")
	case FinWait1:
		if c.finAcked() {
			c.setState(TimeWait, "FIN received after our FIN was acknowledged")
		} else {
			c.setState(Closing, "FIN received before our FIN was acknowledged: simultaneous close")
		}
	case FinWait2:
		c.setState(TimeWait, "FIN received in FIN-WAIT-2: snd ACK")
	}
	c.unacked = 0
	c.emit(c.ackSegment(), "ACK of the FIN")
}
