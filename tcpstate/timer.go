package tcpstate

import (
	"fmt"
	"syscall"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate/seqnum"
)

// NextDeadline returns when OnTimer should next be called, or the zero time if no
// timer runs.
func (c *Conn) NextDeadline() time.Time {
	var d time.Time
	for _, t := range []time.Time{c.rtoAt, c.delackAt, c.persistAt, c.keepAt, c.timeWaitAt, c.finWait2At} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

// OnTimer fires every timer whose deadline is not after now.
func (c *Conn) OnTimer(now time.Time) Output {
	c.begin(now)
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	if due(c.timeWaitAt) {
		c.timeWaitAt = time.Time{}
		c.event(EventTimerFired, "TIME-WAIT timer")
		c.setState(Closed, fmt.Sprintf("TIME-WAIT timeout (%v): delete TCB", c.cfg.TimeWait))
	}
	if due(c.finWait2At) {
		c.finWait2At = time.Time{}
		c.event(EventTimerFired, "FIN-WAIT-2 timer")
		c.setState(Closed, fmt.Sprintf("no FIN from the peer within %v of close (Linux tcp_fin_timeout)", c.cfg.FinWait2))
	}
	if due(c.rtoAt) {
		c.rtoAt = time.Time{}
		c.onRTO()
	}
	if due(c.persistAt) {
		c.persistAt = time.Time{}
		c.onPersist()
	}
	if due(c.keepAt) {
		c.keepAt = time.Time{}
		c.onKeepalive()
	}
	if due(c.delackAt) {
		c.delackAt = time.Time{}
		if c.unacked > 0 && c.state.synchronized() {
			c.emit(c.ackSegment(), "delayed ACK timer")
		}
	}
	return c.out
}

// onRTO is RFC 6298 §5.4–5.7: retransmit the earliest unacknowledged segment, back
// off the timer, and (RFC 5681 §3.1) collapse cwnd to one segment.
func (c *Conn) onRTO() {
	c.stats.Timeouts++
	c.retries++
	c.rttTiming = false // Karn
	c.rto = min(2*c.rto, c.cfg.MaxRTO)
	c.event(EventTimerFired, fmt.Sprintf("retransmission timeout, retry %d, next RTO %v", c.retries, c.rto))
	if !c.synAcked {
		if c.retries > c.cfg.SynRetries {
			c.fail(syscall.ETIMEDOUT, fmt.Sprintf("SYN not answered after %d retransmissions", c.cfg.SynRetries))
			return
		}
		c.stats.Retransmits++
		switch c.state {
		case SynSent:
			c.sendSYN(false, "SYN retransmission")
		case SynReceived, FinWait1:
			c.sendSYN(true, "SYN-ACK retransmission")
		}
		return
	}
	if c.retries > c.cfg.Retries {
		c.fail(syscall.ETIMEDOUT, fmt.Sprintf("data not acknowledged after %d retransmissions", c.cfg.Retries))
		return
	}
	if c.sndUna == c.sndNxt {
		return
	}
	c.ssthresh = max(c.pipe()/2, 2*c.sendMSS)
	c.cwnd = c.sendMSS
	c.loss, c.recovery = true, false
	c.recover = c.sndNxt
	c.rtxNext, c.lostEdge = c.sndUna, c.sndNxt
	c.dupAcks = 0
	c.output()
	if c.rtoAt.IsZero() {
		c.rtoAt = c.now.Add(c.rto)
	}
}

func (c *Conn) persistInterval() time.Duration {
	d := c.rto << c.persistBackoff
	return min(max(d, c.cfg.MinRTO), c.cfg.MaxRTO)
}

// onPersist sends a zero-window probe (RFC 9293 §3.8.6.1) as Linux does: a segment
// with an old sequence number and no data, which the receiver must answer with an
// ACK carrying its current window (tcp_write_wakeup, tcp_xmit_probe_skb).
func (c *Conn) onPersist() {
	if !c.canSend() || c.sndWnd != 0 {
		return
	}
	c.stats.ZeroWindowProbes++
	c.event(EventTimerFired, "persist timer")
	c.emit(Segment{Seq: c.sndUna - 1, Ack: c.rcvNxt, Flags: header.TCPFlagACK}, "zero-window probe")
	c.persistBackoff = min(c.persistBackoff+1, 10)
	c.persistAt = c.now.Add(c.persistInterval())
}

func (c *Conn) armKeepalive() {
	if c.cfg.Keepalive && c.state == Established {
		c.keepAt = c.lastRecv.Add(c.cfg.KeepIdle)
	}
}

// onKeepalive sends a keepalive probe (RFC 9293 §3.8.4: SEG.SEQ = SND.NXT − 1, no
// data) after the idle time, every interval, and resets the connection after count
// unanswered probes, as Linux's tcp_keepalive_timer does.
func (c *Conn) onKeepalive() {
	if c.state != Established || !c.cfg.Keepalive {
		return
	}
	if c.keepProbes >= c.cfg.KeepCount {
		c.sendReset("keepalive: no answer to the probes")
		c.fail(syscall.ETIMEDOUT, fmt.Sprintf("keepalive: %d probes unanswered", c.keepProbes))
		return
	}
	c.keepProbes++
	c.stats.KeepaliveProbes++
	c.event(EventTimerFired, "keepalive timer")
	c.emit(Segment{Seq: c.sndNxt - seqnum.Value(1), Ack: c.rcvNxt, Flags: header.TCPFlagACK}, fmt.Sprintf("keepalive probe %d", c.keepProbes))
	c.keepAt = c.now.Add(c.cfg.KeepInterval)
}
