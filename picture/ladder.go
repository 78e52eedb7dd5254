package picture

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// LadderOptions say how to draw a terminal ladder.
type LadderOptions struct {
	Width   int  // columns; 0 means 80
	Flow    int  // draw only this flow ([fN] in the timeline); 0 draws each flow
	Color   bool // ANSI colours
	Chatter bool // also draw ARP, neighbour discovery and multicast listener reports
}

// Layout of a ladder row.
const (
	defaultWidth = 80
	timeWidth    = 11 // "   0.002123"
	minGap       = 8  // columns between two lanes, at least
	maxGap       = 64 // and at most, however wide the terminal
)

// WriteLadder draws the diagram as one ladder per flow (or only o.Flow): lane names
// on top, then one row per frame, an arrow from the sender's lane to the receiver's
// with the frame's short form on it, and under the lane that changed, the socket
// calls, state changes and verdicts of the nodes in the flow. A frame that never
// reached the far end of its link ends in an X half way; one that the receiver's
// nftables dropped ends in an X at the receiver; a rewritten one carries NAT, with
// what it was before under the router's lane.
func WriteLadder(w io.Writer, d *Diagram, o LadderOptions) error {
	ls, err := d.ladders(o.Flow, o.Chatter)
	if err != nil {
		return err
	}
	if len(ls) == 0 {
		_, err := fmt.Fprintln(w, "(no frames to draw)")
		return err
	}
	width := o.Width
	if width <= 0 {
		width = defaultWidth
	}
	pal := palette(o.Color)
	key := keyLine(ls, pal)
	if key != nil {
		if _, err := fmt.Fprintln(w, key.clip(width).String()); err != nil {
			return err
		}
	}
	for i, l := range ls {
		if i > 0 || key != nil {
			fmt.Fprintln(w)
		}
		c := newCanvas(d, l, width, pal)
		if err := c.draw(w, l); err != nil {
			return err
		}
	}
	return nil
}

// keyLine says what the marks of the ladders' rows under the lanes mean, for the
// kinds they have; nil when they have only arrows.
func keyLine(ls []ladder, pal colors) *line {
	has := map[RowKind]bool{}
	for _, l := range ls {
		for _, r := range l.rows {
			has[r.Kind] = true
		}
	}
	ln := &line{}
	x := 0
	for _, k := range ladderKey {
		if !has[k.kind] {
			continue
		}
		sep := 2
		if x == 0 {
			ln.put(0, "key:", pal.head)
			x, sep = len("key:"), 1
		}
		mark, words, _ := strings.Cut(k.text, " ")
		ln.put(x+sep, mark, pal.mark(mark))
		ln.put(x+sep+len(mark), " "+words, "")
		x += sep + utf8.RuneCountInString(k.text)
	}
	if x == 0 {
		return nil
	}
	return ln
}

// canvas lays out one ladder: the column of each lane.
type canvas struct {
	d     *Diagram
	width int
	xs    map[int]int // lane → column
	order []int
	pal   colors
}

func newCanvas(d *Diagram, l ladder, width int, pal colors) *canvas {
	c := &canvas{d: d, width: width, xs: map[int]int{}, order: l.lanes, pal: pal}
	n := len(l.lanes)
	first := utf8.RuneCountInString(d.Lanes[l.lanes[0]].Name)
	last := utf8.RuneCountInString(d.Lanes[l.lanes[n-1]].Name)
	left := timeWidth + 2 + max(0, first/2)
	gap := 0
	if n > 1 {
		gap = (width - 1 - max(0, (last-1)/2) - left) / (n - 1)
		gap = min(max(gap, minGap), maxGap)
	}
	for i, lane := range l.lanes {
		c.xs[lane] = left + i*gap
	}
	if x := left + (n-1)*gap + (last+1)/2 + 1; x > c.width {
		c.width = x // narrower than the lanes need: let the rows run over
	}
	return c
}

func (c *canvas) draw(w io.Writer, l ladder) error {
	var b strings.Builder
	for _, t := range strings.Split(l.title, "\n") {
		title := &line{}
		title.put(0, t, c.pal.head)
		b.WriteString(title.clip(c.width).String() + "\n")
	}
	head := c.blank("", false)
	for _, lane := range c.order {
		name := []rune(c.d.Lanes[lane].Name)
		head.put(c.xs[lane]-len(name)/2, string(name), c.pal.lane)
	}
	b.WriteString(head.String() + "\n")
	b.WriteString(c.blank("", true).String() + "\n")
	for _, r := range l.rows {
		for _, ln := range c.row(r) {
			b.WriteString(ln.String() + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// row renders one diagram row as one or more lines.
func (c *canvas) row(r Row) []*line {
	ts := fmtRel(r.T)
	if r.Kind != RowFrame {
		return []*line{c.note(ts, r)}
	}
	x1, x2 := c.xs[r.From], c.xs[r.To]
	label := r.Label
	switch {
	case r.Lost:
		label += " LOST"
	case r.Drop != "":
		label += " DROP"
	}
	if r.NAT != "" {
		label += " NAT"
	}
	if r.Retransmit {
		label += " retransmit"
	}
	if r.DupAck > 0 {
		label += fmt.Sprintf(" dup ack %d", r.DupAck)
	}
	ln := c.blank(ts, true)
	var out []*line
	span := x2 - x1 - 1
	if x2 < x1 {
		span = x1 - x2 - 1
	}
	col := c.pal.arrow(r)
	shaft := span
	if r.Lost {
		shaft = span / 2 // and an X: the frame never reached the far end
	}
	if utf8.RuneCountInString(label)+3 > shaft {
		// No room on the arrow: the label goes on a line of its own above it.
		above := c.blank("", true)
		n := utf8.RuneCountInString(label)
		above.put(max(timeWidth+2, min(min(x1, x2)+2, c.width-n)), label, col)
		out = append(out, above.clip(c.width))
		label = ""
	}
	ln.put(min(x1, x2)+1, arrow(span, x2 > x1, label, r), col)
	out = append(out, ln)
	if r.NAT != "" {
		nat, _, _ := strings.Cut(r.NAT, " on ")
		out = append(out, c.under(c.blank("", true), x1, "NAT was "+nat, c.pal.nat))
	}
	return out
}

// arrow draws a shaft of n cells pointing right or left with the label in its
// middle; a lost frame's shaft stops half way in an X, a dropped one's head is an X.
func arrow(n int, right bool, label string, r Row) string {
	if n <= 0 {
		return ""
	}
	m := n
	if r.Lost {
		m = n / 2
	}
	cells := []rune(strings.Repeat(" ", n))
	var shaft []rune
	if right {
		shaft = cells[:m]
	} else {
		shaft = cells[n-m:]
	}
	for i := range shaft {
		shaft[i] = '-'
	}
	if l := []rune(label); len(l) > 0 && m > 0 {
		// Centred in the shaft without its head (the last cell, or the first).
		at := (m - 1 - len(l) - 2) / 2
		if !right {
			at++
		}
		copy(shaft[max(0, at):], []rune(" "+label+" "))
	}
	head := m - 1
	if !right {
		head = 0
	}
	switch {
	case m == 0:
	case r.Lost || r.Drop != "":
		shaft[head] = 'X'
	case right:
		shaft[head] = '>'
	default:
		shaft[head] = '<'
	}
	return string(cells)
}

// note writes a non-frame row under its lane.
func (c *canvas) note(ts string, r Row) *line {
	text := r.Kind.Mark() + " " + shortText(r)
	ln := c.blank(ts, true)
	col := c.pal.kind(r)
	if r.From < 0 {
		ln.put(timeWidth+2, text, col)
		return ln.clip(c.width)
	}
	return c.under(ln, c.xs[r.From], text, col)
}

// under writes text beside lane column x: to its right when it fits, else ending at
// its left, else ending at the right edge, cut at the width.
func (c *canvas) under(ln *line, x int, text, col string) *line {
	n := utf8.RuneCountInString(text)
	switch {
	case x+2+n <= c.width:
		ln.put(x+2, text, col)
	case x-1-n >= timeWidth+1:
		ln.put(x-1-n, text, col)
	default:
		ln.put(max(timeWidth+2, c.width-n), text, col)
	}
	return ln.clip(c.width)
}

// shortText is what a non-frame row says in a ladder: a state change as "from → to"
// (the lane says whose), anything else as the timeline says it.
func shortText(r Row) string {
	if r.Short != "" {
		return r.Short
	}
	return r.Line
}

func (c *canvas) blank(ts string, bars bool) *line {
	ln := &line{cells: []rune(strings.Repeat(" ", c.width)), cols: make([]string, c.width)}
	if ts != "" {
		ln.put(0, ts, c.pal.time)
	}
	if bars {
		for _, lane := range c.order {
			ln.put(c.xs[lane], "|", c.pal.bar)
		}
	}
	return ln
}

func fmtRel(d time.Duration) string {
	return fmt.Sprintf("%4d.%06d", int64(d/time.Second), int64(d%time.Second/time.Microsecond))
}
