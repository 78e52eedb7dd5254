package picture

import (
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"
	"time"
)

// Report is what an HTML report shows besides the diagram.
type Report struct {
	Title        string // the experiment file or the capture file
	Comment      string // the experiment's comment
	Error        string // why the run failed, if it did
	Diagram      *Diagram
	Expectations []Expectation
}

// Expectation is one expectation's outcome.
type Expectation struct {
	Pos, Where string
	Pass       bool
	Want, Seen string
}

//go:embed report.css
var reportCSS string

//go:embed report.js
var reportJS string

// bytesKept is how many payload bytes of a frame the report keeps for its byte view,
// after the headers: enough to recognise the data, small enough for big runs.
const bytesKept = 16

// htmlData is the report's data, read by report.js. What the first screen needs is
// parsed as the page opens: the lanes, each row's time (the ladder's layout) and which
// rows are chatter. The rows themselves are one JSON object a line in a script
// element of their own, parsed only when the ladder draws them (a report of 100 000
// frames draws a few hundred at a time), and the graphs are parsed once the ladder
// has been painted.
type htmlData struct {
	Lanes []htmlLane `json:"lanes"`
	T     []float64  `json:"t"`              // each row's time, seconds
	Chat  []int      `json:"chat,omitempty"` // the rows of link-local chatter
	rows  []htmlRow
}

// htmlGraphs are the time-sequence and congestion graphs.
type htmlGraphs struct {
	Graphs []graphData `json:"graphs,omitempty"`
	Cong   []congData  `json:"cong,omitempty"`
}

// congData is one socket's congestion samples: t (s), cwnd and ssthresh (segments),
// srtt (ms).
type congData struct {
	Socket string       `json:"s"`
	Points [][4]float64 `json:"p"`
}

func congDataOf(d *Diagram) []congData {
	var out []congData
	at := map[string]int{}
	for _, s := range d.Samples {
		i, ok := at[s.Socket]
		if !ok {
			i = len(out)
			at[s.Socket] = i
			out = append(out, congData{Socket: s.Socket})
		}
		out[i].Points = append(out[i].Points, [4]float64{round6(s.T), float64(s.Cwnd), float64(s.Ssthresh), float64(s.SRTT.Microseconds()) / 1000})
	}
	return out
}

type htmlLane struct {
	Name string `json:"name"`
	Node string `json:"node"`
}

type htmlRow struct {
	Kind  string  `json:"k,omitempty"` // "call", "state", …; "" for a frame
	T     float64 `json:"-"`           // seconds, in htmlData.T
	From  int     `json:"a"`           // lane
	To    int     `json:"b,omitempty"` // lane of a frame's receiver
	Flow  int     `json:"f,omitempty"`
	Label string  `json:"l"`           // short form or text
	Line  string  `json:"d,omitempty"` // the full tcpdump line
	Bytes string  `json:"x,omitempty"` // base64 of the frame's first bytes
	Len   int     `json:"n,omitempty"` // the frame's whole length
	Drop  string  `json:"m,omitempty"` // where and why it died
	Lost  bool    `json:"lost,omitempty"`
	NAT   string  `json:"nat,omitempty"`
	NATIn int     `json:"ni,omitempty"` // lane the packet entered the router on, +1
	Fail  bool    `json:"fail,omitempty"`
	Chat  bool    `json:"-"` // link-local chatter, in htmlData.Chat
}

// WriteHTML writes the report as one HTML file that needs nothing else: its style,
// script and data are inline, and it fetches nothing. The ladder (drawn by the script,
// with zoom and pan in time, the tcpdump line of a frame on hover and its bytes on
// click) has a lane per captured interface of a node with several, so that a NAT
// rewrite is drawn across the router's lanes; each TCP flow with data has a
// time-sequence graph as tcptrace draws it.
func WriteHTML(w io.Writer, r *Report) error {
	data := htmlDataOf(r.Diagram)
	var graphs htmlGraphs
	for _, g := range seqGraphs(r.Diagram) {
		graphs.Graphs = append(graphs.Graphs, g.data())
	}
	graphs.Cong = congDataOf(r.Diagram)
	js, err := scriptJSON(data)
	if err != nil {
		return err
	}
	gjs, err := scriptJSON(graphs)
	if err != nil {
		return err
	}
	rows, err := rowLines(data.rows)
	if err != nil {
		return err
	}
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>pktlab: %s</title>\n", esc(r.Title))
	// A Content-Security-Policy that allows nothing from anywhere: the page must work
	// from its own bytes, and a browser refuses any fetch a bug would make.
	b.WriteString(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">` + "\n")
	b.WriteString("<style>\n" + reportCSS + "</style>\n</head><body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n", esc(r.Title))
	if r.Comment != "" {
		fmt.Fprintf(&b, "<pre class=\"comment\">%s</pre>\n", esc(r.Comment))
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "<p class=\"error\">run failed: %s</p>\n", esc(r.Error))
	}
	b.WriteString(`<h2>Ladder</h2>
<div class="tools"><button id="zoom-in" title="stretch time">+</button><button id="zoom-out" title="shrink time">&minus;</button>
<span id="scale"></span> <label><input type="checkbox" id="chatter"> ARP, ND and MLD</label>
<span class="hint">hover a frame for its tcpdump line, click it for its bytes; drag to pan, Ctrl+wheel to zoom</span></div>
<div id="ladder-box"><svg id="ladder" xmlns="http://www.w3.org/2000/svg"></svg></div>
<div id="tip" hidden></div>
<pre id="bytes">click a frame to see its bytes</pre>
`)
	if len(graphs.Graphs) > 0 {
		b.WriteString("<h2>Time-sequence graphs</h2>\n<div id=\"graphs\"></div>\n")
	}
	if len(graphs.Cong) > 0 {
		b.WriteString("<h2>Congestion window, slow-start threshold and smoothed RTT</h2>\n<div id=\"cong\"></div>\n")
	}
	writeExpectations(&b, r.Expectations)
	writeFlows(&b, r.Diagram)
	fmt.Fprintf(&b, "<script type=\"application/json\" id=\"pktlab-data\">%s</script>\n", js)
	fmt.Fprintf(&b, "<script type=\"text/plain\" id=\"pktlab-rows\">%s</script>\n", rows)
	fmt.Fprintf(&b, "<script type=\"application/json\" id=\"pktlab-graphs\">%s</script>\n", gjs)
	b.WriteString("<script>\n" + reportJS + "</script>\n</body></html>\n")
	_, err = io.WriteString(w, b.String())
	return err
}

// htmlDataOf lays the diagram out in lanes per interface for nodes with several.
func htmlDataOf(d *Diagram) htmlData {
	ifaces := map[int][]string{} // diagram lane → its interfaces, in order of appearance
	note := func(l int, ifc string) {
		if ifc == "" || !d.Lanes[l].Node {
			return
		}
		for _, x := range ifaces[l] {
			if x == ifc {
				return
			}
		}
		ifaces[l] = append(ifaces[l], ifc)
	}
	for _, r := range d.Rows {
		if r.Kind == RowFrame {
			note(r.From, r.FromIf)
			note(r.To, r.ToIf)
		}
	}
	// Lanes left to right as frames first use them: the first sender on the left.
	var order []int
	for _, r := range d.Rows {
		if r.Kind == RowFrame {
			order = appendLane(appendLane(order, r.From), r.To)
		}
	}
	for l := range d.Lanes {
		order = appendLane(order, l)
	}
	var data htmlData
	index := map[string]int{}
	first := map[int]int{} // diagram lane → its first html lane
	for _, l := range order {
		lane := d.Lanes[l]
		first[l] = len(data.Lanes)
		if len(ifaces[l]) < 2 {
			index[lane.Name] = len(data.Lanes)
			data.Lanes = append(data.Lanes, htmlLane{Name: lane.Name, Node: lane.Name})
			continue
		}
		for _, ifc := range ifaces[l] {
			index[lane.Name+":"+ifc] = len(data.Lanes)
			data.Lanes = append(data.Lanes, htmlLane{Name: lane.Name + ":" + ifc, Node: lane.Name})
		}
	}
	at := func(l int, ifc string) int {
		if i, ok := index[d.Lanes[l].Name+":"+ifc]; ok {
			return i
		}
		return first[l]
	}
	for _, r := range d.Rows {
		if h, ok := htmlRowOf(d, r, at, index); ok {
			if h.Chat {
				data.Chat = append(data.Chat, len(data.rows))
			}
			data.T = append(data.T, h.T)
			data.rows = append(data.rows, h)
		}
	}
	return data
}

// rowLines are the rows as JSON, one object a line, to put in a script element.
func rowLines(rows []htmlRow) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b) // Encode ends each object with a newline
	enc.SetEscapeHTML(false)
	for _, h := range rows {
		if err := enc.Encode(h); err != nil {
			return "", fmt.Errorf("picture: report row: %w", err)
		}
	}
	return scriptSafe(b.String()), nil
}

// scriptJSON is v as JSON to put in a script element.
func scriptJSON(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "\u003e" in every tcpdump line is 5 bytes a frame
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("picture: report data: %w", err)
	}
	return scriptSafe(b.String()), nil
}

// scriptSafe escapes JSON text so that nothing in it ends its script element or
// changes how the HTML parser reads it ("</script", "<!--"; HTML §13.2.5.4): a "<"
// appears in JSON text only inside a string, where "\u003c" is the same character.
func scriptSafe(s string) string { return strings.ReplaceAll(s, "<", `\u003c`) }

func htmlRowOf(d *Diagram, r Row, at func(int, string) int, index map[string]int) (htmlRow, bool) {
	h := htmlRow{Kind: r.Kind.String(), T: round6(r.T), From: -1, Label: r.Line, Fail: r.Fail}
	if r.Kind == RowStep || (r.Kind == RowNote && !r.Fail) {
		return h, false
	}
	if r.From >= 0 {
		h.From = at(r.From, r.FromIf)
	}
	if r.Kind != RowFrame {
		h.Label = shortText(r)
		return h, true
	}
	f := r.Frame
	h.Kind = ""
	h.To, h.Flow, h.Label, h.Line, h.Drop, h.Lost, h.NAT = at(r.To, r.ToIf), r.Flow, r.Label, r.Line, r.Drop, r.Lost, r.NAT
	if r.Retransmit {
		h.Label += " retransmit"
	}
	if r.DupAck > 0 {
		h.Label += fmt.Sprintf(" dup ack %d", r.DupAck)
	}
	if r.NAT != "" {
		if i, ok := index[r.NATIn]; ok {
			h.NATIn = i + 1
		}
	}
	keep := len(f.Data)
	if p := f.Packet.PayloadLen; p > bytesKept && p <= keep {
		keep -= p - bytesKept
	}
	h.Bytes, h.Len, h.Chat = base64.StdEncoding.EncodeToString(f.Data[:keep]), len(f.Data), chatter(f)
	return h, true
}

func writeExpectations(b *strings.Builder, es []Expectation) {
	if len(es) == 0 {
		return
	}
	b.WriteString("<h2>Expectations</h2>\n<table class=\"expect\"><tr><th></th><th>where</th><th>when</th><th>want</th><th>seen</th></tr>\n")
	for _, e := range es {
		mark, cls := "PASS", "pass"
		if !e.Pass {
			mark, cls = "FAIL", "fail"
		}
		fmt.Fprintf(b, "<tr class=\"%s\"><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td><pre>%s</pre></td></tr>\n",
			cls, mark, html.EscapeString(e.Pos), html.EscapeString(e.Where), html.EscapeString(e.Want), html.EscapeString(e.Seen))
	}
	b.WriteString("</table>\n")
}

func writeFlows(b *strings.Builder, d *Diagram) {
	if len(d.Flows) == 0 {
		return
	}
	b.WriteString("<h2>Flows</h2>\n<table class=\"flows\"><tr><th>flow</th><th>proto</th><th>from</th><th>to</th><th>frames</th><th>first</th><th>last</th></tr>\n")
	for _, f := range d.Flows {
		fmt.Fprintf(b, "<tr><td>f%d</td><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%s</td><td>%s</td></tr>\n",
			f.ID, f.Proto, f.Src, f.Dst, f.Frames, secs(f.First), secs(f.Last))
	}
	b.WriteString("</table>\n")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.6f s", d.Seconds()) }
