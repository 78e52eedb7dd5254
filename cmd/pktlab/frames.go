package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
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

// frameJSON is the --json form of one frame.
type frameJSON struct {
	Time      time.Time `json:"time"`
	Interface string    `json:"interface,omitempty"`
	Length    int       `json:"length"`
	Summary   string    `json:"summary"`
	Layers    []string  `json:"layers"`
	Error     string    `json:"error,omitempty"`
	Hex       string    `json:"hex,omitempty"`
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
		j := frameJSON{Time: ts, Interface: name, Length: length, Summary: summary}
		for _, t := range d.Layers() {
			j.Layers = append(j.Layers, t.String())
		}
		if derr != nil {
			j.Error = derr.Error()
		}
		if p.hex {
			j.Hex = fmt.Sprintf("%x", data)
		}
		return writeJSONLine(p.w, j)
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

func writeJSONLine(w io.Writer, v any) error {
	b, err := jsonMarshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func errorsJoin(a, b error) error { return errors.Join(a, b) }
