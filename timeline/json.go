package timeline

import (
	"encoding/json"
	"io"
)

// jsonEvent is the --json form of an event: one object per line.
type jsonEvent struct {
	T       float64 `json:"t"` // seconds since the start
	Kind    string  `json:"kind"`
	Node    string  `json:"node,omitempty"`
	Iface   string  `json:"iface,omitempty"`
	Dup     bool    `json:"dup,omitempty"`
	Flow    int     `json:"flow,omitempty"`
	Summary string  `json:"summary,omitempty"`
	Proto   string  `json:"proto,omitempty"`
	Src     string  `json:"src,omitempty"`
	Dst     string  `json:"dst,omitempty"`
	SPort   int     `json:"sport,omitempty"`
	DPort   int     `json:"dport,omitempty"`
	Flags   string  `json:"flags,omitempty"`
	Seq     *uint32 `json:"seq,omitempty"`
	Ack     *uint32 `json:"ack,omitempty"`
	TTL     int     `json:"ttl,omitempty"`
	Len     int     `json:"len,omitempty"`
	Op      string  `json:"op,omitempty"`
	Sock    string  `json:"sock,omitempty"`
	Args    string  `json:"args,omitempty"`
	Ret     *int    `json:"ret,omitempty"`
	Errno   string  `json:"errno,omitempty"`
	Info    string  `json:"info,omitempty"`
	Blocked bool    `json:"blocked,omitempty"`
	DurMS   float64 `json:"dur_ms,omitempty"`
	Text    string  `json:"text,omitempty"`
}

// WriteJSON writes one JSON object per event, in time order, duplicates included (they
// carry "dup": true).
func (tl *Timeline) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, e := range tl.Events() {
		if err := enc.Encode(tl.jsonOf(e)); err != nil {
			return err
		}
	}
	return nil
}

func (tl *Timeline) jsonOf(e Event) jsonEvent {
	j := jsonEvent{T: e.Time.Sub(tl.Start).Seconds(), Kind: e.Kind.String(), Node: e.Node, Text: e.Text}
	switch {
	case e.Frame != nil:
		f, p := e.Frame, &e.Frame.Packet
		j.Iface, j.Dup, j.Flow, j.Summary = f.Iface, f.Dup, f.Flow, f.Text
		if j.Summary == "" {
			j.Summary = f.Summary()
		}
		j.Proto, j.TTL, j.Len = p.Proto, p.TTL, p.Len
		if p.Src.IsValid() {
			j.Src, j.Dst = p.Src.String(), p.Dst.String()
		}
		j.SPort, j.DPort = p.SPort, p.DPort
		if p.Proto == "tcp" {
			seq, ack := f.RelSeq, f.RelAck
			j.Flags, j.Seq, j.Ack = p.Flags.String(), &seq, &ack
		}
	case e.Call != nil:
		c := e.Call
		ret := c.Ret
		j.Op, j.Sock, j.Args, j.Ret = string(c.Op), c.Sock, c.Args, &ret
		j.Errno, j.Info, j.Blocked = c.ErrnoName(), c.Info, c.Timed
		j.DurMS = float64(c.Dur.Microseconds()) / 1000
	}
	return j
}
