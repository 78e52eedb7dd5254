package tcpstate

import (
	"fmt"
	"sort"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate/seqnum"
)

// textInput is the seventh check (RFC 9293 §3.10.7.4, "process the segment text"):
// in-order data goes to the receive buffer, data beyond RCV.NXT waits in the
// reassembly queue. It reports whether a FIN is now in order.
func (c *Conn) textInput(seg *Segment) bool {
	fin := seg.Flags&header.TCPFlagFIN != 0
	if len(seg.Payload) == 0 && !fin {
		return false
	}
	switch c.state {
	case Established, FinWait1, FinWait2, SynReceived:
	default:
		// CLOSE-WAIT, CLOSING, LAST-ACK: the peer's FIN came already; ignore.
		return false
	}
	if c.userClosed && len(seg.Payload) > 0 {
		// Linux tcp_rcv_state_process: data for a socket the application closed
		// is answered with a RST ("data after close").
		c.stats.Dropped++
		c.sendReset("data after close: snd RST (Linux tcp_rcv_state_process)")
		c.fail(errDataAfterClose, "data arrived after close: RST sent")
		return false
	}
	if seg.Seq != c.rcvNxt {
		c.queueOOO(seg)
		c.emit(c.ackSegment(), fmt.Sprintf("duplicate ACK: out-of-order segment at %d, expected %d", seg.Seq, c.rcvNxt))
		return false
	}
	filled := len(c.ooo) > 0
	c.rcvBuf, c.rcvArr = reuseAppend(c.rcvBuf, c.rcvArr, seg.Payload)
	c.rcvNxt = c.rcvNxt.Add(seqnum.Size(len(seg.Payload)))
	if c.drainOOO() {
		fin = true
	}
	if fin {
		c.rcvNxt++
		c.rcvFin = true
		return true
	}
	c.unacked++
	if filled {
		c.emit(c.ackSegment(), "ACK at once: segment filled a hole (RFC 5681 §4.2)")
	}
	return false
}

var errDataAfterClose = fmt.Errorf("tcpstate: data arrived after close: connection reset")

// queueOOO keeps a copy of out-of-order data (and its FIN) for reassembly.
func (c *Conn) queueOOO(seg *Segment) {
	s := oooSegment{seq: seg.Seq, data: append([]byte(nil), seg.Payload...), fin: seg.Flags&header.TCPFlagFIN != 0}
	c.lastOOO = SACKBlock{Left: s.seq, Right: s.end()}
	for i := range c.ooo {
		o := &c.ooo[i]
		if o.seq == s.seq && len(o.data) >= len(s.data) && (o.fin || !s.fin) {
			return // duplicate
		}
	}
	c.ooo = append(c.ooo, s)
	base := c.rcvNxt
	sort.SliceStable(c.ooo, func(i, j int) bool { return base.Size(c.ooo[i].seq) < base.Size(c.ooo[j].seq) })
}

// drainOOO moves queued data that RCV.NXT has reached into the receive buffer and
// reports whether a queued FIN became in order.
func (c *Conn) drainOOO() bool {
	fin := false
	i := 0
	for ; i < len(c.ooo); i++ {
		o := &c.ooo[i]
		if c.rcvNxt.LessThan(o.seq) {
			break
		}
		if c.rcvNxt.LessThan(o.end()) {
			skip := int(o.seq.Size(c.rcvNxt))
			c.rcvBuf, c.rcvArr = reuseAppend(c.rcvBuf, c.rcvArr, o.data[skip:])
			c.rcvNxt = o.end()
		}
		if o.fin && c.rcvNxt == o.end() {
			fin = true
		}
	}
	c.ooo = c.ooo[i:]
	if len(c.ooo) == 0 {
		c.ooo = nil
	}
	return fin
}

// sackBlocks fills the SACK option from the reassembly queue: the block holding the
// latest arrival first, then the others in order (RFC 2018 §4).
func (c *Conn) sackBlocks(o *Options) {
	limit := MaxSACKBlocks
	if o.HasTS {
		limit = 3
	}
	var blocks []SACKBlock
	for _, s := range c.ooo {
		if n := len(blocks); n > 0 && s.seq.LessThanEq(blocks[n-1].Right) {
			blocks[n-1].Right = seqnum.Max(blocks[n-1].Right, s.end())
			continue
		}
		blocks = append(blocks, SACKBlock{Left: s.seq, Right: s.end()})
	}
	first := -1
	for i, b := range blocks {
		if c.lastOOO.Left.InRange(b.Left, b.Right) {
			first = i
			break
		}
	}
	if first >= 0 {
		o.SACK[0] = blocks[first]
		o.NumSACK = 1
	}
	for i, b := range blocks {
		if o.NumSACK == limit {
			break
		}
		if i != first {
			o.SACK[o.NumSACK] = b
			o.NumSACK++
		}
	}
}
