package timeline

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"
)

// WritePcapng writes every captured frame (duplicates on the far end of a veth
// included, since each interface is its own capture) as pcapng: one Interface
// Description Block per captured endpoint, named "node:iface", and each frame's packet
// comments carrying the frame's flow and relative seq/ack and what happened after it
// until the next frame (agent calls, state changes, verdicts).
func (tl *Timeline) WritePcapng(w io.Writer) error {
	if len(tl.Endpoints) == 0 {
		return fmt.Errorf("timeline: no captured interfaces to write")
	}
	nw := &ngWriter{w: bufio.NewWriter(w)}
	nw.section("pktlab", "pktlab run timeline")
	for _, ep := range tl.Endpoints {
		nw.iface(ep.String(), "pktlab capture on node "+ep.Node+" interface "+ep.Iface)
	}
	// Each non-frame event is told on the frame shown just before it ("then: …"), or,
	// before the first frame, on the first one ("before: …"), so none is lost when the
	// run ends without another frame.
	evs := tl.Events()
	notes := map[int][]string{}
	last, first := -1, -1
	var before []string
	for i, e := range evs {
		if f := e.Frame(); f != nil {
			if !f.Dup {
				last = i
				if first < 0 {
					first = i
				}
			}
			continue
		}
		line := tl.noteText(e)
		if last < 0 {
			before = append(before, "before: "+line)
			continue
		}
		notes[last] = append(notes[last], "then: "+line)
	}
	if first >= 0 {
		notes[first] = append(before, notes[first]...)
	}
	for i, e := range evs {
		f := e.Frame()
		if f == nil {
			continue
		}
		var comments []string
		if c := relComment(f); c != "" {
			comments = append(comments, c)
		}
		comments = append(comments, notes[i]...)
		nw.packet(f.Index, e.Time, f.Data, comments)
	}
	if err := nw.flush(); err != nil {
		return fmt.Errorf("timeline: write pcapng: %w", err)
	}
	return nil
}

// relComment is a TCP frame's flow and relative numbers. The acknowledgment number
// is given only when the frame carries one (ACK set) and the other direction's first
// sequence number was captured: a SYN's ack field is whatever its sender left there.
func relComment(f *Frame) string {
	p := &f.Packet
	if p.Proto != "tcp" {
		return ""
	}
	if f.HasRelAck && strings.Contains(p.Flags.String(), ".") {
		return fmt.Sprintf("pktlab: flow %d, relative seq %d ack %d", f.Flow, f.RelSeq, f.RelAck)
	}
	return fmt.Sprintf("pktlab: flow %d, relative seq %d", f.Flow, f.RelSeq)
}

// noteText is an event as a packet comment: what it is, then the timeline's words.
func (tl *Timeline) noteText(e Event) string {
	word := e.Kind().String()
	switch e.Kind() {
	case KindCall, KindStep:
		return word + " " + tl.Text(e)
	case KindKernelState, KindUserspaceState:
		word = "state"
	case KindOutcome:
		word = "note"
	}
	s := word + " "
	if e.Node != "" {
		s += e.Node + " "
	}
	return s + tl.Text(e)
}

// ngWriter writes the few pcapng blocks a timeline needs (draft-ietf-opsawg-pcapng):
// a Section Header, one Interface Description per endpoint (Ethernet, nanosecond
// timestamps) and Enhanced Packet blocks with comments, little-endian. It is here,
// not gopacket's pcapgo, because pcapgo's live-capture half imports
// golang.org/x/sys/unix, and the timeline imports no system-call package.
type ngWriter struct {
	w   *bufio.Writer
	blk []byte
	err error
}

// pcapng block types and option codes.
const (
	ngSectionHeader  = 0x0a0d0d0a
	ngInterface      = 0x00000001
	ngEnhancedPacket = 0x00000006
	ngOptEnd         = 0
	ngOptComment     = 1
	ngOptIfName      = 2
	ngOptIfDesc      = 3
	ngOptIfTSResol   = 9
	ngOptSHBUserAppl = 4
	ngLinkEthernet   = 1
)

func (nw *ngWriter) u16(v uint16) { nw.blk = binary.LittleEndian.AppendUint16(nw.blk, v) }
func (nw *ngWriter) u32(v uint32) { nw.blk = binary.LittleEndian.AppendUint32(nw.blk, v) }

func (nw *ngWriter) pad() {
	for len(nw.blk)%4 != 0 {
		nw.blk = append(nw.blk, 0)
	}
}

func (nw *ngWriter) begin(typ uint32) {
	nw.blk = nw.blk[:0]
	nw.u32(typ)
	nw.u32(0) // total length, set by end
}

// opt appends an option; values longer than an option can say are cut.
func (nw *ngWriter) opt(code uint16, v []byte) {
	if len(v) > 0xfff0 {
		v = v[:0xfff0]
	}
	nw.u16(code)
	nw.u16(uint16(len(v)))
	nw.blk = append(nw.blk, v...)
	nw.pad()
}

func (nw *ngWriter) end() {
	nw.u16(ngOptEnd)
	nw.u16(0)
	n := uint32(len(nw.blk) + 4)
	binary.LittleEndian.PutUint32(nw.blk[4:], n)
	nw.u32(n)
	if nw.err == nil {
		_, nw.err = nw.w.Write(nw.blk)
	}
}

func (nw *ngWriter) section(app, comment string) {
	nw.begin(ngSectionHeader)
	nw.u32(0x1a2b3c4d) // byte-order magic
	nw.u16(1)          // version 1.0
	nw.u16(0)
	nw.u32(0xffffffff) // section length unknown (-1)
	nw.u32(0xffffffff)
	nw.opt(ngOptComment, []byte(comment))
	nw.opt(ngOptSHBUserAppl, []byte(app))
	nw.end()
}

func (nw *ngWriter) iface(name, desc string) {
	nw.begin(ngInterface)
	nw.u16(ngLinkEthernet)
	nw.u16(0)
	nw.u32(65536) // snap length
	nw.opt(ngOptIfName, []byte(name))
	nw.opt(ngOptIfDesc, []byte(desc))
	nw.opt(ngOptIfTSResol, []byte{9}) // 10^-9 s
	nw.end()
}

func (nw *ngWriter) packet(iface int, t time.Time, data []byte, comments []string) {
	nw.begin(ngEnhancedPacket)
	ns := uint64(t.UnixNano())
	nw.u32(uint32(iface))
	nw.u32(uint32(ns >> 32))
	nw.u32(uint32(ns))
	nw.u32(uint32(len(data)))
	nw.u32(uint32(len(data)))
	nw.blk = append(nw.blk, data...)
	nw.pad()
	for _, c := range comments {
		nw.opt(ngOptComment, []byte(c))
	}
	nw.end()
}

func (nw *ngWriter) flush() error {
	if nw.err != nil {
		return nw.err
	}
	return nw.w.Flush()
}
