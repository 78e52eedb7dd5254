package experiment

import (
	"fmt"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/timeline"
)

// AckDelay bounds the time from the last data segment a frame newly acknowledges to
// the frame itself (both seen on the same interface). Max 0 means no upper bound.
type AckDelay struct {
	Min, Max time.Duration
}

func (d *AckDelay) String() string {
	if d.Max > 0 {
		return fmt.Sprintf("%s to %s", d.Min, d.Max)
	}
	return fmt.Sprintf("at least %s", d.Min)
}

// ackStat is what one TCP frame acknowledges: the data segments of the other
// direction, seen on the same interface before it, that its acknowledgment number
// covers and no earlier frame of its direction had covered; and how long after the
// last of them it left (or arrived).
type ackStat struct {
	segments int
	delay    time.Duration // valid when segments > 0
}

func (a ackStat) String() string {
	if a.segments == 0 {
		return "acks no new data"
	}
	return fmt.Sprintf("acks %d segment(s), %s after the last", a.segments, a.delay.Round(10*time.Microsecond))
}

// ackStats computes the ack relation for every TCP frame recorded on capture
// interface idx. evs must be in time order. The relation is read on one interface
// only, where both the data and its ACK pass (the receiver's, for the delay it
// chose); sequence numbers are the timeline's relative ones.
func ackStats(evs []timeline.Event, idx int) map[*timeline.Frame]ackStat {
	type dir struct {
		flow int
		src  string
	}
	type seg struct {
		end uint32
		at  time.Time
	}
	data := map[dir][]seg{}   // data segments sent in each direction
	acked := map[dir]uint32{} // highest ack sent in each direction (0: none yet)
	out := map[*timeline.Frame]ackStat{}
	for _, e := range evs {
		f := e.Frame()
		p := &f.Packet
		if f.Index != idx || p.Proto != "tcp" || f.Flow == 0 {
			continue
		}
		me := dir{f.Flow, fmt.Sprintf("%s.%d", p.Src, p.SPort)}
		peer := dir{f.Flow, fmt.Sprintf("%s.%d", p.Dst, p.DPort)}
		if p.PayloadLen > 0 {
			data[me] = append(data[me], seg{f.RelSeq + uint32(p.PayloadLen), e.Time})
		}
		var st ackStat
		if p.Flags.Has(header.TCPFlagACK) {
			from := acked[me]
			covered := map[uint32]bool{} // a retransmitted segment counts once
			var last time.Time           // its latest copy is the one being acked
			for _, s := range data[peer] {
				if !seqLess(from, s.end) || seqLess(f.RelAck, s.end) {
					continue
				}
				if !covered[s.end] {
					covered[s.end] = true
					st.segments++
				}
				if s.at.After(last) {
					last = s.at
				}
			}
			if st.segments > 0 {
				st.delay = e.Time.Sub(last)
			}
			if seqLess(from, f.RelAck) {
				acked[me] = f.RelAck
			}
		}
		out[f] = st
	}
	return out
}

// seqLess is sequence-space a < b (RFC 9293 §3.4, modulo 2^32).
func seqLess(a, b uint32) bool { return int32(a-b) < 0 }
