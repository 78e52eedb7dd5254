package timeline

import (
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
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
	intf := func(ep Endpoint) pcapgo.NgInterface {
		return pcapgo.NgInterface{
			Name:                ep.String(),
			Description:         "pktlab capture on node " + ep.Node + " interface " + ep.Iface,
			LinkType:            layers.LinkTypeEthernet,
			SnapLength:          65536,
			TimestampResolution: 9,
		}
	}
	nw, err := pcapgo.NewNgWriterInterface(w, intf(tl.Endpoints[0]), pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: "pktlab", Comment: "pktlab run timeline"},
	})
	if err != nil {
		return fmt.Errorf("timeline: start pcapng: %w", err)
	}
	for _, ep := range tl.Endpoints[1:] {
		if _, err := nw.AddInterface(intf(ep)); err != nil {
			return fmt.Errorf("timeline: pcapng interface %s: %w", ep, err)
		}
	}
	// Each non-frame event is told on the frame shown just before it ("then: …"), or,
	// before the first frame, on the first one ("before: …"), so none is lost when the
	// run ends without another frame.
	evs := tl.Events()
	notes := map[int][]string{}
	last, first := -1, -1
	var before []string
	for i, e := range evs {
		if e.Kind == KindFrame {
			if !e.Frame.Dup {
				last = i
				if first < 0 {
					first = i
				}
			}
			continue
		}
		line := noteText(e)
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
		if e.Kind != KindFrame {
			continue
		}
		f := e.Frame
		var comments []string
		if f.Packet.Proto == "tcp" {
			comments = append(comments, fmt.Sprintf("pktlab: flow %d, relative seq %d ack %d", f.Flow, f.RelSeq, f.RelAck))
		}
		comments = append(comments, notes[i]...)
		ci := gopacket.CaptureInfo{Timestamp: e.Time, CaptureLength: len(f.Data), Length: len(f.Data), InterfaceIndex: f.Index}
		if err := nw.WritePacketWithOptions(ci, f.Data, pcapgo.NgPacketOptions{Comments: comments}); err != nil {
			return fmt.Errorf("timeline: write frame to pcapng: %w", err)
		}
	}
	return nw.Flush()
}

// noteText is an event as a packet comment: what it is, then the timeline's words.
func noteText(e Event) string {
	switch e.Kind {
	case KindCall:
		return "call " + e.Call.String()
	case KindStep:
		return "step " + e.Text
	}
	s := e.Kind.String() + " "
	if e.Node != "" {
		s += e.Node + " "
	}
	return s + e.Text
}
