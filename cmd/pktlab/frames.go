package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/timeline"
)

// framePrinter prints frames as pktlab capture and decode show them: a timestamp,
// the capture point, the tcpdump-style summary, and optionally the layered view and
// hex dump; or one JSON object per frame.
type framePrinter struct {
	w       io.Writer
	verbose bool
	hex     bool
	asJSON  bool
	names   []rawsock.FileInterface
	s       *rawsock.Summarizer
	dec     map[layers.LinkType]*rawsock.Decoder
	line    []byte
}

// frameBody is a frame's JSON body (docs/json.md), as every command shows frames:
// its addresses and TCP fields from the decoded frame (Ethernet), the layers the
// decoder found and why it stopped.
func frameBody(d *rawsock.Decoder, derr error, link layers.LinkType, data []byte, iface, summary string, length int) *timeline.FrameJSON {
	var j timeline.FrameJSON
	if link == layers.LinkTypeEthernet {
		h := d.Headers.On(data) // the headers d decoded, over data: not decoded again
		p := timeline.FromHeaders(&h)
		j = timeline.FrameOf(&p, iface, summary)
	} else {
		j = timeline.FrameJSON{Interface: iface, Summary: summary}
	}
	j.Length = length
	for _, t := range d.Layers() {
		j.Layers = append(j.Layers, t.String())
	}
	if derr != nil {
		j.Error = derr.Error()
	}
	return &j
}

func (p *framePrinter) decoder(link layers.LinkType) *rawsock.Decoder {
	if p.dec == nil {
		p.dec = map[layers.LinkType]*rawsock.Decoder{}
	}
	d := p.dec[link]
	if d == nil {
		d = rawsock.NewDecoder(link)
		p.dec[link] = d
	}
	return d
}

func (p *framePrinter) print(src int, ts time.Time, link layers.LinkType, data []byte, length int) error {
	name := ""
	if src < len(p.names) {
		name = p.names[src].Name
	}
	d := p.decoder(link)
	derr := d.Decode(data)
	summary := string(p.s.AppendHeaders(p.line[:0], &d.Headers)) // decoded once
	if p.asJSON {
		j := frameBody(d, derr, link, data, name, summary, length)
		if p.hex {
			j.Hex = fmt.Sprintf("%x", data)
		}
		return timeline.WriteRecord(p.w, timeline.Record{Type: "frame", Time: ts, Body: j})
	}
	b := p.line[:0]
	b = ts.AppendFormat(b, "15:04:05.000000")
	b = append(b, ' ')
	if name != "" {
		b = append(b, name...)
		b = append(b, ' ')
	}
	b = append(b, summary...)
	if p.verbose {
		b = rawsock.AppendVerbose(b, d)
		if derr != nil {
			b = append(b, "\n  ! "...)
			b = append(b, strings.TrimPrefix(derr.Error(), "rawsock: ")...)
		}
	}
	if p.hex {
		b = rawsock.AppendHex(b, link, data, false)
	}
	b = append(b, '\n')
	p.line = b
	_, err := p.w.Write(b)
	return err
}

func errorsJoin(a, b error) error { return errors.Join(a, b) }
