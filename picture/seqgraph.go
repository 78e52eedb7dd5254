package picture

import (
	"net/netip"
	"strings"
	"time"

	"github.com/pktlab/pktlab/timeline"
)

// seqGraph is what a time-sequence graph of one TCP flow draws, as tcptrace does
// (Shepard, "TCP Packet Trace Analysis", MIT/LCS/TR-494): the data one side sent as
// vertical bars from seq to seq+len, the other side's cumulative ACK as a step line,
// the window it offered above it, its SACK blocks, and marks for retransmissions,
// duplicate ACKs and segments that died.
type seqGraph struct {
	flow       Flow
	sender     netip.AddrPort
	segs, acks []Row
	shift      uint // the receiver's window scale (RFC 7323 §2.3), when both SYNs offered it
	base       uint32
	t0, t1     time.Duration
	top        uint32
}

// seqGraphs finds the TCP flows that carried data and what to draw of each: the
// side that sent most bytes, on the first link its data crossed.
func seqGraphs(d *Diagram) []seqGraph {
	var out []seqGraph
	for _, fl := range d.Flows {
		if fl.Proto != "tcp" {
			continue
		}
		if g, ok := newSeqGraph(d, fl); ok {
			out = append(out, g)
		}
	}
	return out
}

func newSeqGraph(d *Diagram, fl Flow) (seqGraph, bool) {
	g := seqGraph{flow: fl}
	bytes := map[netip.AddrPort]int{}
	lane := map[netip.AddrPort]int{}
	for _, r := range d.Rows {
		if r.Kind == RowFrame && r.Flow == fl.ID {
			p := &r.Frame.Packet
			src := netip.AddrPortFrom(p.Src, uint16(p.SPort))
			if _, ok := lane[src]; !ok {
				lane[src] = r.From
			}
			bytes[src] += p.PayloadLen
		}
	}
	for src, n := range bytes {
		if n > bytes[g.sender] || (n == bytes[g.sender] && src.Compare(g.sender) < 0) {
			g.sender = src
		}
	}
	if bytes[g.sender] == 0 {
		return g, false
	}
	var synS, synR *Row
	for _, r := range d.Rows {
		if r.Kind != RowFrame || r.Flow != fl.ID {
			continue
		}
		p := &r.Frame.Packet
		src := netip.AddrPortFrom(p.Src, uint16(p.SPort))
		switch {
		case src == g.sender && r.From == lane[g.sender]:
			g.segs = append(g.segs, r)
			g.base = p.Seq - r.Frame.RelSeq
			if strings.Contains(p.Flags.String(), "S") && synS == nil {
				synS = &g.segs[len(g.segs)-1]
			}
		case src != g.sender && r.To == lane[g.sender]:
			g.acks = append(g.acks, r)
			if strings.Contains(p.Flags.String(), "S") && synR == nil {
				synR = &g.acks[len(g.acks)-1]
			}
		}
	}
	if synS != nil && synR != nil && synS.Frame.Packet.WScale >= 0 && synR.Frame.Packet.WScale >= 0 {
		g.shift = uint(synR.Frame.Packet.WScale)
	}
	g.bounds()
	return g, true
}

// bounds are the graph's time and sequence ranges: from the first frame until the
// ACK of the last data (a long idle tail would squeeze the exchange to a line), and
// up to a tenth above the highest data or ACK; the window line is cut at the top.
func (g *seqGraph) bounds() {
	g.t0, g.t1 = g.segs[0].T, g.segs[0].T
	var data uint32
	for _, r := range g.segs {
		g.t0 = min(g.t0, r.T)
		if r.Frame.Packet.PayloadLen > 0 || strings.ContainsAny(r.Frame.Packet.Flags.String(), "SF") {
			g.t1 = max(g.t1, r.T)
			data = max(data, r.Frame.RelSeq+uint32(r.Frame.Packet.PayloadLen))
		}
	}
	for _, r := range g.acks {
		g.t0 = min(g.t0, r.T)
		if r.T >= g.t1 && strings.Contains(r.Frame.Packet.Flags.String(), ".") && int32(r.Frame.RelAck-data) >= 0 {
			g.t1 = r.T
			break
		}
	}
	top := data
	for _, r := range g.acks {
		if r.T <= g.t1 && strings.Contains(r.Frame.Packet.Flags.String(), ".") {
			top = max(top, r.Frame.RelAck)
		}
	}
	if g.t1 == g.t0 {
		g.t1 = g.t0 + time.Millisecond
	}
	g.top = max(top+top/10, 1)
}

// window is the receive window an ACK offers, in bytes.
func (g *seqGraph) window(r Row) uint32 {
	w := uint32(r.Frame.Packet.Window)
	if !strings.Contains(r.Frame.Packet.Flags.String(), "S") {
		w <<= g.shift
	}
	return w
}

// graphData is a time-sequence graph as report.js draws it: times in seconds,
// sequence numbers relative to the sender's ISN.
type graphData struct {
	Flow   int          `json:"f"`
	Sender string       `json:"s"`
	T0     float64      `json:"t0"`
	T1     float64      `json:"t1"`
	Top    uint32       `json:"top"`
	Segs   [][4]float64 `json:"seg"`            // t, seq, len, marks (1 retransmission, 2 died)
	Acks   [][4]float64 `json:"ack"`            // t, ack, window, duplicate number
	Sacks  [][3]float64 `json:"sack,omitempty"` // t, left, right
	Died   []string     `json:"died,omitempty"` // why, for the segments marked 2, in order
}

func (g *seqGraph) data() graphData {
	gd := graphData{Flow: g.flow.ID, Sender: g.sender.String(), T0: g.t0.Seconds(), T1: g.t1.Seconds(), Top: g.top}
	for _, r := range g.segs {
		if r.T > g.t1 {
			break
		}
		p := &r.Frame.Packet
		if p.PayloadLen == 0 && !strings.ContainsAny(p.Flags.String(), "SFR") {
			continue // a bare ACK from the sender carries no data to draw
		}
		mark := 0.0
		if r.Retransmit {
			mark++
		}
		if r.Lost || r.Drop != "" {
			mark += 2
			why := r.Drop
			if r.Lost {
				why = "never seen at the other end of the link"
			}
			gd.Died = append(gd.Died, why)
		}
		gd.Segs = append(gd.Segs, [4]float64{round6(r.T), float64(r.Frame.RelSeq), float64(p.PayloadLen), mark})
	}
	for _, r := range g.acks {
		p := &r.Frame.Packet
		if r.T > g.t1 {
			break
		}
		if !strings.Contains(p.Flags.String(), ".") {
			continue
		}
		gd.Acks = append(gd.Acks, [4]float64{round6(r.T), float64(r.Frame.RelAck), float64(min(g.top, r.Frame.RelAck+g.window(r))), float64(r.DupAck)})
		for _, blk := range g.sackBlocks(p) {
			gd.Sacks = append(gd.Sacks, [3]float64{round6(r.T), float64(blk[0]), float64(blk[1])})
		}
	}
	return gd
}

// round6 is a time in seconds to the microsecond, as the timeline prints it.
func round6(d time.Duration) float64 { return float64(d.Microseconds()) / 1e6 }

// sackBlocks are an ACK's SACK blocks (RFC 2018 §3) relative to the sender's ISN.
func (g *seqGraph) sackBlocks(p *timeline.Packet) [][2]uint32 {
	out := sackBlocks(p)
	for i := range out {
		out[i][0] -= g.base
		out[i][1] -= g.base
	}
	return out
}
