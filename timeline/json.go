package timeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// SchemaVersion is the version of pktlab's JSON lines (docs/json.md), the "v" of
// every line. It changes when a field changes meaning or goes away, not when one is
// added.
const SchemaVersion = 1

// Record is one line of pktlab's JSON output, in the one schema docs/json.md
// describes: {"v":1,"type":T,"time":…,"t":…,"node":…,T:{…}}, the body under the key
// named by the type. Every command writes its lines through it.
type Record struct {
	Type string
	Time time.Time // omitted when zero
	// Rel is the time since the start of the run (the text timeline's first
	// column); HasRel says it is given.
	Rel    time.Duration
	HasRel bool
	Node   string
	// NetNS and Sock are a kernel event's network namespace inode and socket
	// address (package ktrace), 0 when not known.
	NetNS uint32
	Sock  uint64
	Body  any // marshalled under Type; nil for none
}

// MarshalJSON writes the record's keys in the documented order.
func (r Record) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"v":%d,"type":%q`, SchemaVersion, r.Type)
	if !r.Time.IsZero() {
		fmt.Fprintf(&b, `,"time":%q`, r.Time.UTC().Format(time.RFC3339Nano))
	}
	if r.HasRel {
		fmt.Fprintf(&b, `,"t":%.6f`, r.Rel.Seconds())
	}
	if r.Node != "" {
		b.WriteString(`,"node":`)
		if err := marshalTo(&b, r.Node); err != nil {
			return nil, err
		}
	}
	if r.NetNS != 0 {
		fmt.Fprintf(&b, `,"netns":%d`, r.NetNS)
	}
	if r.Sock != 0 {
		fmt.Fprintf(&b, `,"sock":"%x"`, r.Sock)
	}
	if r.Body != nil {
		fmt.Fprintf(&b, `,%q:`, r.Type)
		if err := marshalTo(&b, r.Body); err != nil {
			return nil, fmt.Errorf("timeline: %s record: %w", r.Type, err)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalTo appends v's JSON without escaping <, > and & (summaries are full of
// "a > b", and the output is not HTML).
func marshalTo(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// WriteRecord writes one record as a line.
func WriteRecord(w io.Writer, r Record) error {
	b, err := r.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteJSON writes one record per event, in time order, duplicates included (their
// frames carry "dup": true).
func (tl *Timeline) WriteJSON(w io.Writer) error {
	for _, e := range tl.Events() {
		if err := WriteRecord(w, tl.Record(e)); err != nil {
			return err
		}
	}
	return nil
}

// Record is an event as a JSON line.
func (tl *Timeline) Record(e Event) Record {
	r := Record{Type: e.Kind().String(), Time: e.Time, Rel: e.Time.Sub(tl.Start), HasRel: true, Node: e.Node}
	switch d := e.Data.(type) {
	case *Frame:
		r.Body = tl.frameJSON(d)
	case *Call:
		r.Body = callJSON(d)
	default:
		r.Body = e.Data // the other records marshal as they are
	}
	return r
}

// FrameJSON is a frame in every command's JSON (capture, decode, run, tcp): one shape.
// Fields that do not apply are left out.
type FrameJSON struct {
	Interface string   `json:"interface,omitempty"` // node:iface, or the capture file's interface name
	Dir       string   `json:"dir,omitempty"`       // "out" (sent by the node) or "in"
	Length    int      `json:"length"`              // bytes on the wire
	Summary   string   `json:"summary"`             // the tcpdump -n line
	Layers    []string `json:"layers,omitempty"`    // decoded layers, outermost first (capture, decode)
	Error     string   `json:"error,omitempty"`     // why decoding stopped early
	Proto     string   `json:"proto,omitempty"`     // tcp, udp, icmp, icmp6, arp, ip, ip6, or the EtherType
	Src       string   `json:"src,omitempty"`
	Dst       string   `json:"dst,omitempty"`
	SPort     int      `json:"sport,omitempty"`
	DPort     int      `json:"dport,omitempty"`
	TTL       int      `json:"ttl,omitempty"`
	Flags     string   `json:"flags,omitempty"` // TCP flags as tcpdump prints them: S, S., P., F., R.
	Seq       *uint32  `json:"seq,omitempty"`   // TCP, absolute
	Ack       *uint32  `json:"ack,omitempty"`   // TCP, absolute, when ACK is set
	Flow      int      `json:"flow,omitempty"`  // timeline: flow number
	RelSeq    *uint32  `json:"rel_seq,omitempty"`
	RelAck    *uint32  `json:"rel_ack,omitempty"` // when ACK is set and the other side's first seq was seen
	Dup       bool     `json:"dup,omitempty"`     // the receiver's copy of a frame also recorded at its sender
	NAT       *NATJSON `json:"nat,omitempty"`
	Cause     string   `json:"cause,omitempty"` // why pktlab's userspace TCP sent or dropped it
	Hex       string   `json:"hex,omitempty"`
}

// NATJSON is where a NATed frame came from.
type NATJSON struct {
	Src       string `json:"src"`
	Dst       string `json:"dst"`
	Interface string `json:"interface"`
}

// FrameOf is a decoded frame's JSON body without a timeline: what capture and decode
// print.
func FrameOf(p *Packet, iface, summary string) FrameJSON {
	j := FrameJSON{Interface: iface, Length: p.Len, Summary: summary, Proto: p.Proto, SPort: p.SPort, DPort: p.DPort, TTL: p.TTL}
	if p.Src.IsValid() {
		j.Src, j.Dst = p.Src.String(), p.Dst.String()
	}
	if p.Proto == "tcp" {
		seq := p.Seq
		j.Flags, j.Seq = p.Flags.String(), &seq
		if strings.Contains(p.Flags.String(), ".") {
			ack := p.Ack
			j.Ack = &ack
		}
	}
	return j
}

func (tl *Timeline) frameJSON(f *Frame) FrameJSON {
	summary := f.Line
	if summary == "" {
		summary = f.Summary()
	}
	j := FrameOf(&f.Packet, tl.Endpoints[f.Index].String(), summary)
	j.Dir, j.Flow, j.Dup, j.Cause = "in", f.Flow, f.Dup, f.Cause
	if f.Out {
		j.Dir = "out"
	}
	if f.Packet.Proto == "tcp" {
		seq := f.RelSeq
		j.RelSeq = &seq
		if f.HasRelAck && j.Ack != nil {
			ack := f.RelAck
			j.RelAck = &ack
		}
	}
	if f.NAT != nil {
		j.NAT = &NATJSON{Src: f.NAT.Src.String(), Dst: f.NAT.Dst.String(), Interface: tl.Endpoints[f.NAT.Endpoint].String()}
	}
	return j
}

// CallJSON is a call's body.
type CallJSON struct {
	Op      string  `json:"op"`
	Sock    string  `json:"sock,omitempty"`
	Args    string  `json:"args,omitempty"`
	Ret     int     `json:"ret"`
	Errno   string  `json:"errno,omitempty"`
	Info    string  `json:"info,omitempty"`
	Data    string  `json:"data,omitempty"`
	Blocked bool    `json:"blocked,omitempty"`
	DurMS   float64 `json:"dur_ms"`
	Text    string  `json:"text"` // the strace-style line
	Step    string  `json:"step,omitempty"`
}

func callJSON(c *Call) CallJSON {
	return CallJSON{Op: string(c.Op), Sock: c.Sock, Args: c.Args, Ret: c.Ret, Errno: c.ErrnoName(), Info: c.Info,
		Data: string(c.Data), Blocked: c.Timed, DurMS: float64(c.Dur.Microseconds()) / 1000, Text: c.String(), Step: c.Step}
}
