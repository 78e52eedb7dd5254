package picture

import (
	"fmt"
	"html"
	"net/netip"
	"strings"
	"time"

	"github.com/pktlab/pktlab/timeline"
)

// Size of a time-sequence graph, in SVG user units.
const (
	graphW, graphH = 900.0, 360.0
	graphMargin    = 60.0
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

func (g *seqGraph) x(t time.Duration) float64 {
	return graphMargin + float64(t-g.t0)/float64(g.t1-g.t0)*graphW
}

func (g *seqGraph) y(seq uint32) float64 {
	return graphMargin + graphH - float64(seq)/float64(g.top)*graphH
}

func writeSeqGraphs(b *strings.Builder, d *Diagram) {
	gs := seqGraphs(d)
	if len(gs) == 0 {
		return
	}
	b.WriteString("<h2>Time-sequence graphs</h2>\n")
	for _, g := range gs {
		g.write(b)
	}
}

func (g *seqGraph) write(b *strings.Builder) {
	fmt.Fprintf(b, "<h3>[f%d] data from %s, until its last byte was acknowledged</h3>\n", g.flow.ID, g.sender)
	fmt.Fprintf(b, `<svg class="seqgraph" data-flow="%d" viewBox="0 0 %.0f %.0f" xmlns="http://www.w3.org/2000/svg">`+"\n",
		g.flow.ID, graphW+2*graphMargin, graphH+2*graphMargin)
	g.axes(b)
	g.ackLines(b)
	for _, r := range g.segs {
		if r.T > g.t1 {
			break
		}
		p := &r.Frame.Packet
		x, y0, y1 := g.x(r.T), g.y(r.Frame.RelSeq), g.y(r.Frame.RelSeq+uint32(p.PayloadLen))
		cls := "seg"
		if r.Retransmit {
			cls = "seg retx"
		}
		if p.PayloadLen == 0 && !strings.ContainsAny(p.Flags.String(), "SFR") {
			continue // a bare ACK from the sender carries no data to draw
		}
		fmt.Fprintf(b, `<g class="%s"><title>%s</title><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/></g>`+"\n",
			cls, html.EscapeString(fmtRel(r.T)+" "+r.Label), x, y0, x, y1, x-3, y0, x+3, y0, x-3, y1, x+3, y1)
		if r.Lost || r.Drop != "" {
			fmt.Fprintf(b, `<text class="died" x="%.1f" y="%.1f"><title>%s</title>×</text>`+"\n", x+4, y1, html.EscapeString(r.Drop))
		}
	}
	b.WriteString(`<g class="key"><text x="60" y="20" class="seg-key">data</text><text x="110" y="20" class="retx-key">retransmission</text><text x="220" y="20" class="ack-key">ACK</text><text x="260" y="20" class="win-key">window</text><text x="320" y="20" class="sack-key">SACK</text><text x="370" y="20" class="dup-key">dup ACK</text></g>` + "\n")
	b.WriteString("</svg>\n")
}

func (g *seqGraph) axes(b *strings.Builder) {
	l, r, t, bot := graphMargin, graphMargin+graphW, graphMargin, graphMargin+graphH
	fmt.Fprintf(b, `<g class="axis"><line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/><line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/>`, l, bot, r, bot, l, t, l, bot)
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f">%s</text><text x="%.0f" y="%.0f" text-anchor="end">%s</text>`, l, bot+16, secs(g.t0), r, bot+16, secs(g.t1))
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="end">0</text><text x="%.0f" y="%.0f" text-anchor="end">%d</text></g>`+"\n", l-4, bot, l-4, t+4, g.top)
}

// ackLines draws the ACK and window step lines, the SACK blocks and the dup ACKs.
func (g *seqGraph) ackLines(b *strings.Builder) {
	var ack, win strings.Builder
	started := false
	for _, r := range g.acks {
		p := &r.Frame.Packet
		if r.T > g.t1 {
			break
		}
		if !strings.Contains(p.Flags.String(), ".") {
			continue
		}
		x, ya, yw := g.x(r.T), g.y(r.Frame.RelAck), g.y(min(g.top, r.Frame.RelAck+g.window(r)))
		if !started {
			fmt.Fprintf(&ack, "M%.1f,%.1f", x, ya)
			fmt.Fprintf(&win, "M%.1f,%.1f", x, yw)
			started = true
		} else {
			fmt.Fprintf(&ack, " H%.1f V%.1f", x, ya)
			fmt.Fprintf(&win, " H%.1f V%.1f", x, yw)
		}
		for _, blk := range g.sackBlocks(p) {
			fmt.Fprintf(b, `<line class="sack" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"><title>SACK %d:%d</title></line>`+"\n", x+2, g.y(blk[0]), x+2, g.y(blk[1]), blk[0], blk[1])
		}
		if r.DupAck > 0 {
			fmt.Fprintf(b, `<circle class="dup" cx="%.1f" cy="%.1f" r="3"><title>%s</title></circle>`+"\n", x, ya, html.EscapeString(fmt.Sprintf("%s duplicate ACK %d of %d", fmtRel(r.T), r.DupAck, r.Frame.RelAck)))
		}
	}
	if started {
		fmt.Fprintf(b, `<path class="win" d="%s"/>`+"\n"+`<path class="ack" d="%s"/>`+"\n", win.String(), ack.String())
	}
}

// sackBlocks are an ACK's SACK blocks (RFC 2018 §3) relative to the sender's ISN.
func (g *seqGraph) sackBlocks(p *timeline.Packet) [][2]uint32 {
	var out [][2]uint32
	for _, o := range p.OptText {
		rest, ok := strings.CutPrefix(o, "sack ")
		if !ok {
			continue
		}
		_, rest, _ = strings.Cut(rest, " ")
		for _, blk := range strings.Split(strings.Trim(rest, "{}"), "}{") {
			var l, r uint32
			if _, err := fmt.Sscanf(blk, "%d:%d", &l, &r); err == nil {
				out = append(out, [2]uint32{l - g.base, r - g.base})
			}
		}
	}
	return out
}
