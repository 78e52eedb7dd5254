package tcpstate

import (
	"fmt"
	"sort"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate/seqnum"
)

// negotiate takes the options of the peer's SYN: an option is in use only when both
// SYNs carry it (RFC 7323 §2.2 and §3.2, RFC 2018 §2).
func (c *Conn) negotiate(syn *Segment) {
	o := &syn.Options
	peerMSS := int(o.MSS)
	if peerMSS == 0 {
		peerMSS = DefaultSendMSS
	}
	c.sendMSS = min(peerMSS, int(c.cfg.MSS))
	if o.HasWScale && !c.cfg.NoWindowScale {
		c.wsOK = true
		c.sndWScale = min(o.WScale, MaxWScale)
	} else {
		c.sndWScale, c.rcvWScale = 0, 0
	}
	c.sackOK = o.SACKPermitted && !c.cfg.NoSACK
	c.tsOK = o.HasTS && !c.cfg.NoTimestamps
	if c.tsOK {
		c.tsRecent, c.tsRecentSet = o.TSVal, true
		c.sendMSS -= 12 // RFC 7323 §3.2: the option rides in every segment
	}
	if c.sendMSS < 64 {
		c.sendMSS = 64
	}
}

// ackInput is the fifth check for the synchronized states (RFC 9293 §3.10.7.4,
// "ESTABLISHED STATE" and after), with RFC 5961 §5.2's acceptability; it reports
// whether processing goes on.
func (c *Conn) ackInput(seg *Segment) bool {
	ack := seg.Ack
	if c.sndNxt.LessThan(ack) {
		c.drop(seg, fmt.Sprintf("ACK %d acknowledges data not yet sent (SND.NXT %d)", ack, c.sndNxt))
		c.emit(c.ackSegment(), "ACK for an ACK of unsent data (RFC 9293 §3.10.7.4)")
		return false
	}
	if ack.LessThan(c.sndUna - seqnum.Value(c.maxSndWnd)) {
		c.drop(seg, "ACK older than SND.UNA − MAX.SND.WND")
		c.challengeACK("RFC 5961 §5.2 challenge ACK for an old ACK")
		return false
	}
	c.updateTSRecent(seg)
	c.sackInput(seg)
	oldWnd := c.sndWnd
	if c.sndUna.LessThan(ack) {
		c.newAck(seg)
	} else if ack == c.sndUna && len(seg.Payload) == 0 && seg.Flags&(header.TCPFlagSYN|header.TCPFlagFIN) == 0 &&
		c.sndUna != c.sndNxt && (uint32(seg.Window)<<c.sndWScale == oldWnd || seg.Options.NumSACK > 0) {
		c.dupAck()
	}
	// Window update (RFC 9293 §3.10.7.4): only from a segment newer than the one
	// that last set it.
	if c.sndWl1.LessThan(seg.Seq) || (c.sndWl1 == seg.Seq && c.sndWl2.LessThanEq(ack)) {
		c.sndWnd = uint32(seg.Window) << c.sndWScale
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		c.sndWl1, c.sndWl2 = seg.Seq, ack
		if c.sndWnd > 0 {
			c.persistAt = time.Time{}
			c.persistBackoff = 0
		}
	}
	switch c.state {
	case FinWait1:
		if c.finAcked() {
			c.setState(FinWait2, "ACK acknowledges our FIN")
		}
	case Closing:
		if c.finAcked() {
			c.setState(TimeWait, "ACK acknowledges our FIN in CLOSING")
		}
	case LastAck:
		if c.finAcked() {
			c.setState(Closed, "ACK acknowledges our FIN in LAST-ACK: delete TCB")
			return false
		}
	}
	return true
}

func (c *Conn) finAcked() bool { return c.finSent && c.sndUna == c.sndNxt }

// updateTSRecent is RFC 7323 §4.3: TS.Recent follows the segment that covers the
// last ACK we sent.
func (c *Conn) updateTSRecent(seg *Segment) {
	if c.tsOK && seg.Options.HasTS && seg.Seq.LessThanEq(c.lastAckSent) {
		c.tsRecent, c.tsRecentSet = seg.Options.TSVal, true
	}
}

// newAck handles an ACK that advances SND.UNA.
func (c *Conn) newAck(seg *Segment) {
	ack := seg.Ack
	acked := int(c.sndUna.Size(ack))
	if c.dataStart.LessThan(ack) {
		n := min(int(c.dataStart.Size(ack)), len(c.sndBuf))
		c.sndBuf = c.sndBuf[n:]
		c.dataStart = c.dataStart.Add(seqnum.Size(n))
		if len(c.sndBuf) == 0 {
			c.sndBuf = c.sndArr[:0]
		}
	}
	c.sndUna = ack
	c.rttFromAck(seg)
	c.retries = 0
	c.dupAcks = 0
	c.pruneSacked()
	if c.rtxNext.LessThan(ack) {
		c.rtxNext = ack
	}
	c.congestionOnAck(acked)
	if c.sndUna == c.sndNxt {
		c.rtoAt = time.Time{}
	} else {
		c.rtoAt = c.now.Add(c.rto)
	}
}

// rttFromAck takes an RTT sample: from the echoed timestamp when timestamps are on
// (RFC 7323 §4.1), else from the timed segment unless it was retransmitted (Karn).
func (c *Conn) rttFromAck(seg *Segment) {
	if c.tsOK && seg.Options.HasTS && seg.Options.TSEcr != 0 {
		d := c.tsNow() - seg.Options.TSEcr
		if int32(d) >= 0 {
			c.rttSample(time.Duration(d) * time.Millisecond)
			return
		}
	}
	if c.rttTiming && c.rttSeq.LessThan(seg.Ack) {
		c.rttTiming = false
		c.rttSample(c.now.Sub(c.rttTime))
	}
}

// rttSample updates SRTT, RTTVAR and RTO (RFC 6298 §2.2–2.5) and ends any backoff.
func (c *Conn) rttSample(r time.Duration) {
	if !c.hasRTT {
		c.srtt, c.rttvar, c.hasRTT = r, r/2, true
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.rto = c.srtt + max(4*c.rttvar, time.Millisecond)
	c.rto = min(max(c.rto, c.cfg.MinRTO), c.cfg.MaxRTO)
}

// congestionOnAck grows cwnd (RFC 5681 §3.1) or steps NewReno recovery along
// (RFC 6582 §3.2).
func (c *Conn) congestionOnAck(acked int) {
	mss := c.sendMSS
	switch {
	case c.recovery && !c.sndUna.LessThan(c.recover):
		c.recovery = false
		c.cwnd = max(min(c.ssthresh, c.flight()+mss), 2*mss)
		return
	case c.recovery:
		// Partial ACK: the segment at the new SND.UNA is lost too.
		c.lostEdge = seqnum.Max(c.lostEdge, c.sndUna.Add(seqnum.Size(mss)))
		if !c.sackOK {
			c.rtxNext = c.sndUna
			c.cwnd = max(c.cwnd-acked+mss, mss)
		}
		return
	case c.loss && !c.sndUna.LessThan(c.recover):
		c.loss = false
	}
	if c.cwnd < c.ssthresh {
		c.cwnd += min(acked, mss)
		return
	}
	c.cwndAcc += acked
	if c.cwndAcc >= c.cwnd {
		c.cwndAcc -= c.cwnd
		c.cwnd += mss
	}
}

// dupAck counts duplicate ACKs; the third starts fast retransmit and recovery
// (RFC 5681 §3.2, RFC 6582 §3.2 step 2).
func (c *Conn) dupAck() {
	c.dupAcks++
	switch {
	case c.recovery:
		if !c.sackOK {
			c.cwnd += c.sendMSS
		}
		if c.sackOK {
			c.lostEdge = seqnum.Max(c.lostEdge, c.highSack)
		}
	case c.loss:
	case c.dupAcks == 3 && !c.sndUna.LessThan(c.recover):
		c.recovery = true
		c.recover = c.sndNxt
		c.ssthresh = max(c.flight()/2, 2*c.sendMSS)
		c.cwnd = c.ssthresh
		if !c.sackOK {
			c.cwnd += 3 * c.sendMSS
		}
		c.rtxNext = c.sndUna
		c.lostEdge = seqnum.Max(c.sndUna.Add(seqnum.Size(c.sendMSS)), c.highSack)
		c.rttTiming = false
		c.stats.FastRetransmits++
		c.event(EventTimerFired, "third duplicate ACK: fast retransmit, enter NewReno recovery (RFC 6582)")
	}
}

// flight is SND.NXT − SND.UNA.
func (c *Conn) flight() int { return int(c.sndUna.Size(c.sndNxt)) }

// sackInput merges the peer's SACK blocks into the scoreboard (RFC 2018 §4),
// ignoring blocks outside (SND.UNA, SND.NXT].
func (c *Conn) sackInput(seg *Segment) {
	if !c.sackOK {
		return
	}
	for _, b := range seg.Options.Blocks() {
		if !c.sndUna.LessThan(b.Right) || !b.Left.LessThan(b.Right) || c.sndNxt.LessThan(b.Right) {
			continue
		}
		if b.Left.LessThan(c.sndUna) {
			b.Left = c.sndUna
		}
		c.sacked = append(c.sacked, b)
		c.highSack = seqnum.Max(c.highSack, b.Right)
	}
	c.mergeSacked()
}

func (c *Conn) mergeSacked() {
	if len(c.sacked) < 2 {
		return
	}
	base := c.sndUna
	sort.Slice(c.sacked, func(i, j int) bool { return base.Size(c.sacked[i].Left) < base.Size(c.sacked[j].Left) })
	out := c.sacked[:1]
	for _, b := range c.sacked[1:] {
		last := &out[len(out)-1]
		if b.Left.LessThanEq(last.Right) {
			last.Right = seqnum.Max(last.Right, b.Right)
			continue
		}
		out = append(out, b)
	}
	c.sacked = out
}

func (c *Conn) pruneSacked() {
	out := c.sacked[:0]
	for _, b := range c.sacked {
		if !c.sndUna.LessThan(b.Right) {
			continue
		}
		if b.Left.LessThan(c.sndUna) {
			b.Left = c.sndUna
		}
		out = append(out, b)
	}
	c.sacked = out
	if c.highSack.LessThan(c.sndUna) {
		c.highSack = c.sndUna
	}
}

// sackedBytes counts scoreboard bytes in [a, b).
func (c *Conn) sackedBytes(a, b seqnum.Value) int {
	n := 0
	for _, s := range c.sacked {
		l, r := seqnum.Max(s.Left, a), seqnum.Min(s.Right, b)
		if l.LessThan(r) {
			n += int(l.Size(r))
		}
	}
	return n
}

// pipe estimates the bytes in the network (RFC 6675 §4): sent, minus SACKed, minus
// holes considered lost and not yet retransmitted.
func (c *Conn) pipe() int {
	p := c.flight() - c.sackedBytes(c.sndUna, c.sndNxt)
	if (c.recovery || c.loss) && c.rtxNext.LessThan(c.lostEdge) {
		p -= int(c.rtxNext.Size(c.lostEdge)) - c.sackedBytes(c.rtxNext, c.lostEdge)
	}
	return max(p, 0)
}
