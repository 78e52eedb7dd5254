package timeline

import (
	"fmt"
	"io"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// WritePcapng writes every captured frame (duplicates on the far end of a veth
// included, since each interface is its own capture) as pcapng: one Interface
// Description Block per captured endpoint, named "node:iface", and each frame's packet
// comment carrying the annotations that happened since the previous frame (agent calls,
// state changes, verdicts) and the frame's relative seq/ack.
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
	var pending []string
	for _, e := range tl.Events() {
		if e.Kind != KindFrame {
			pending = append(pending, strings.TrimSpace(tl.Line(e)[11:]))
			continue
		}
		f := e.Frame
		comments := append([]string(nil), pending...)
		if !f.Dup {
			pending = pending[:0]
		}
		if f.Packet.Proto == "tcp" {
			comments = append(comments, fmt.Sprintf("pktlab: flow %d, relative seq %d ack %d", f.Flow, f.RelSeq, f.RelAck))
		}
		ci := gopacket.CaptureInfo{Timestamp: e.Time, CaptureLength: len(f.Data), Length: len(f.Data), InterfaceIndex: f.Index}
		if err := nw.WritePacketWithOptions(ci, f.Data, pcapgo.NgPacketOptions{Comments: comments}); err != nil {
			return fmt.Errorf("timeline: write frame to pcapng: %w", err)
		}
	}
	return nw.Flush()
}
