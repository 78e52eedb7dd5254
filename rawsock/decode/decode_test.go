package decode_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/decode"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/rawsock/internal/testcorpus"
)

// refDecoder is the decoder as it was before Decoder read rawsock/header's views: a
// gopacket DecodingLayerParser over gopacket's layers. TestDecodeMatchesGopacket and
// FuzzDecodeMatchesGopacket hold Decoder to it: the same headers, each over the same
// bytes, and the same kind of error. (That each view's getters read what gopacket's
// layer holds for the same bytes is rawsock/header's TestViewsMatchGopacket.)
type refDecoder struct {
	link     layers.LinkType
	Ethernet layers.Ethernet
	SLL      layers.LinuxSLL
	ARP      layers.ARP
	IPv4     layers.IPv4
	IPv6     layers.IPv6
	IPv6Frag layers.IPv6Fragment
	TCP      layers.TCP
	UDP      layers.UDP
	ICMPv4   layers.ICMPv4
	ICMPv6   layers.ICMPv6
	Payload  gopacket.Payload
	Decoded  []gopacket.LayerType
	Fragment bool
	parsers  [4]*gopacket.DecodingLayerParser // by first layer: Ethernet, SLL, IPv4, IPv6
}

var refFirstLayers = [4]gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layers.LayerTypeIPv4, layers.LayerTypeIPv6}

func newRefDecoder(link layers.LinkType) *refDecoder {
	d := &refDecoder{link: link}
	for i, first := range refFirstLayers {
		p := gopacket.NewDecodingLayerParser(first)
		for _, l := range []gopacket.DecodingLayer{&d.Ethernet, &d.SLL, &d.ARP, &d.IPv4, &d.IPv6, &d.IPv6Frag,
			&d.TCP, &d.UDP, &d.ICMPv4, &d.ICMPv6, &d.Payload} {
			p.AddDecodingLayer(l)
		}
		p.IgnoreUnsupported = true
		d.parsers[i] = p
	}
	return d
}

// Decode decodes frame and returns nil, decode.ErrTruncated or decode.ErrMalformed: the kind of
// fault Decoder must report.
func (d *refDecoder) Decode(frame []byte) error {
	d.Fragment = false
	d.Decoded = d.Decoded[:0]
	d.IPv6.HopByHop = nil
	fi := 0
	switch d.link {
	case layers.LinkTypeLinuxSLL:
		fi = 1
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(frame) == 0 {
			return decode.ErrTruncated
		}
		fi = 2
		if frame[0]>>4 == 6 {
			fi = 3
		}
	}
	first, p := refFirstLayers[fi], d.parsers[fi]
	err := p.DecodeLayers(frame, &d.Decoded)
	for _, t := range d.Decoded {
		switch t {
		case layers.LayerTypeIPv4:
			d.Fragment = d.Fragment || d.IPv4.Flags&layers.IPv4MoreFragments != 0 || d.IPv4.FragOffset != 0
		case layers.LayerTypeIPv6Fragment:
			d.Fragment = d.Fragment || d.IPv6Frag.MoreFragments || d.IPv6Frag.FragmentOffset != 0
		}
	}
	last := first
	if n := len(d.Decoded); n > 0 {
		last = d.Decoded[n-1]
	}
	short := func() bool {
		next, rest := first, frame
		if n := len(d.Decoded); n > 0 {
			l := d.layer(d.Decoded[n-1])
			next, rest = l.NextLayerType(), l.LayerPayload()
		}
		return len(rest) < headerLen(next, rest)
	}
	switch {
	case err != nil && (p.Truncated || short()):
		return decode.ErrTruncated
	case err != nil:
		return decode.ErrMalformed
	case p.Truncated:
		return decode.ErrTruncated
	}
	if l := d.layer(last); l != nil && len(l.LayerPayload()) == 0 && !d.Fragment {
		if next := l.NextLayerType(); next != gopacket.LayerTypePayload && next != gopacket.LayerTypeZero && d.layer(next) != nil {
			return decode.ErrTruncated
		}
	}
	if slices.Contains(d.Decoded, layers.LayerTypeTCP) && !optionsFit(d.TCP.Contents) {
		return decode.ErrMalformed
	}
	return nil
}

// headerLen is the length of the header of type t at the start of b, as far as b
// tells it (its length field), or its minimum.
func headerLen(t gopacket.LayerType, b []byte) int {
	switch t {
	case layers.LayerTypeEthernet:
		return 14
	case layers.LayerTypeLinuxSLL:
		return 16
	case layers.LayerTypeARP:
		if len(b) >= 6 {
			return 8 + 2*int(b[4]) + 2*int(b[5])
		}
		return 8
	case layers.LayerTypeIPv4:
		if len(b) >= 1 {
			return max(20, int(b[0]&0x0f)*4)
		}
		return 20
	case layers.LayerTypeIPv6:
		return 40
	case layers.LayerTypeTCP:
		if len(b) >= 13 {
			return max(20, int(b[12]>>4)*4)
		}
		return 20
	case layers.LayerTypeUDP, layers.LayerTypeIPv6Fragment, layers.LayerTypeICMPv4:
		return 8
	case layers.LayerTypeICMPv6:
		return 4
	}
	return 0
}

// optionsFit reports whether every TCP option but EOL and NOP has a length of at
// least 2 that stays inside the header (RFC 9293 §3.1), which gopacket does not
// check of the last option.
func optionsFit(h []byte) bool {
	opts := h[min(20, len(h)):]
	for len(opts) > 0 {
		switch opts[0] {
		case 0:
			return true
		case 1:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return false
		}
		opts = opts[opts[1]:]
	}
	return true
}

// layer returns the decoding layer for t, or nil if the decoder has none.
func (d *refDecoder) layer(t gopacket.LayerType) gopacket.DecodingLayer {
	switch t {
	case layers.LayerTypeEthernet:
		return &d.Ethernet
	case layers.LayerTypeLinuxSLL:
		return &d.SLL
	case layers.LayerTypeARP:
		return &d.ARP
	case layers.LayerTypeIPv4:
		return &d.IPv4
	case layers.LayerTypeIPv6:
		return &d.IPv6
	case layers.LayerTypeIPv6Fragment:
		return &d.IPv6Frag
	case layers.LayerTypeTCP:
		return &d.TCP
	case layers.LayerTypeUDP:
		return &d.UDP
	case layers.LayerTypeICMPv4:
		return &d.ICMPv4
	case layers.LayerTypeICMPv6:
		return &d.ICMPv6
	case gopacket.LayerTypePayload:
		return &d.Payload
	}
	return nil
}

// bounds returns the bytes of the header of type t that h holds and the bytes after
// it, as gopacket's layer would split them.
func bounds(h *decode.Headers, t gopacket.LayerType) (contents, payload []byte) {
	switch t {
	case layers.LayerTypeEthernet:
		e := h.Ethernet()
		p := e.Payload()
		if n := int(e.Type()); n < 0x0600 {
			p = p[:min(n, len(p))] // an 802.3 length
		}
		return e[:14], p
	case layers.LayerTypeLinuxSLL:
		return h.SLL()[:16], h.SLL().Payload()
	case layers.LayerTypeARP:
		a := h.ARP()
		return a[:a.Len()], a.Payload()
	case layers.LayerTypeIPv4:
		ip := h.IPv4()
		return ip[:ip.HeaderLen()], ip.Payload()
	case layers.LayerTypeIPv6:
		ip := h.IPv6()
		return ip[:40], ip.Payload()[len(h.HopByHop()):]
	case layers.LayerTypeIPv6Fragment:
		return h.IPv6Frag()[:8], h.IPv6Frag().Payload()
	case layers.LayerTypeTCP:
		t := h.TCP()
		return t[:t.DataOffset()], t.Payload()
	case layers.LayerTypeUDP:
		return h.UDP()[:8], h.UDP().Payload()
	case layers.LayerTypeICMPv4:
		return h.ICMPv4()[:8], h.ICMPv4().Payload()
	case layers.LayerTypeICMPv6:
		return h.ICMPv6()[:4], h.ICMPv6()[4:]
	}
	return h.Payload(), nil
}

// same reports whether a and b are the same bytes of the frame (not only equal).
func same(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// diffDecode decodes frame with d and ref and describes how they differ: kind of
// error, layer list, fragment flag, or where a header decoded once starts and ends.
func diffDecode(d *rawsock.Decoder, ref *refDecoder, frame []byte) string {
	err, refErr := d.Decode(frame), ref.Decode(frame)
	if known := knownDifference(d, frame, err); known {
		return ""
	}
	if errKind(err) != refErr {
		return fmt.Sprintf("error %v, parser's %v", err, refErr)
	}
	if !slices.Equal(d.Layers(), ref.Decoded) || d.Fragment != ref.Fragment {
		return fmt.Sprintf("layers %v fragment %v, parser's %v fragment %v", d.Layers(), d.Fragment, ref.Decoded, ref.Fragment)
	}
	for _, t := range d.Layers() {
		if countOf(d.Layers(), t) > 1 || err != nil {
			// gopacket's parser keeps the last of a kind, Headers the first; and a
			// header that failed has overwritten the parser's layer of its kind.
			continue
		}
		c, p := bounds(&d.Headers, t)
		l := ref.layer(t)
		if !same(c, l.(gopacket.Layer).LayerContents()) || !same(p, l.(gopacket.Layer).LayerPayload()) {
			return fmt.Sprintf("%v header % x payload %d bytes, parser's % x and %d bytes", t, c, len(p), l.(gopacket.Layer).LayerContents(), len(l.(gopacket.Layer).LayerPayload()))
		}
	}
	return ""
}

// knownDifference reports the frames where Decoder departs from gopacket on
// purpose: an ICMPv6 message shorter than the 8 bytes every message type has (RFC
// 4443 §2.1), which gopacket takes from 4 bytes on, and an IPv6 jumbogram (payload
// length 0, RFC 2675), which Decoder does not decode.
func knownDifference(d *rawsock.Decoder, frame []byte, err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, decode.ErrTruncated) && strings.Contains(err.Error(), "ICMPv6 message shorter than 8 bytes") {
		return true
	}
	return strings.Contains(err.Error(), "jumbograms are not decoded")
}

func countOf(ts []gopacket.LayerType, t gopacket.LayerType) int {
	n := 0
	for _, x := range ts {
		if x == t {
			n++
		}
	}
	return n
}

// errKind is decode.ErrTruncated or decode.ErrMalformed for an error wrapping it, nil for nil.
func errKind(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, decode.ErrTruncated):
		return decode.ErrTruncated
	case errors.Is(err, decode.ErrMalformed):
		return decode.ErrMalformed
	}
	return err
}

// refFrames returns the Ethernet frames of the corpus captures and of
// testdata/bench.pcap, the same frames without their Ethernet header, and the cooked
// (Linux SLL) frames of testdata/corpus-cooked.pcap.
func refFrames(tb testing.TB) (eth, raw, sll [][]byte) {
	for _, fr := range testcorpus.Read(tb, "..", testcorpus.Files...) {
		if fr.Link == layers.LinkTypeLinuxSLL {
			sll = append(sll, fr.Data)
			continue
		}
		eth = append(eth, fr.Data)
		if len(fr.Data) > 14 {
			raw = append(raw, fr.Data[14:])
		}
	}
	return eth, raw, sll
}

// tcpVariants returns copies of an Ethernet+IPv4 TCP frame with other option lists.
func tcpVariants(frame []byte) [][]byte {
	if len(frame) < 34 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 || header.IPProtocol(frame[23]) != header.IPProtocolTCP {
		return nil
	}
	ihl := int(frame[14]&0x0f) * 4
	tcp := 14 + ihl
	if len(frame) < tcp+20 {
		return nil
	}
	var out [][]byte
	for _, opts := range [][]byte{
		{30, 4, 0x10, 0x01, 1, 1, 1, 1},                  // MPTCP MP_CAPABLE, too short for any subtype
		{30, 12, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8},     // MPTCP MP_CAPABLE (SYN/ACK form)
		{2, 4, 5, 0xb4, 0, 9, 9, 9},                      // MSS, then EOL and padding
		{2, 4, 5, 0xb4, 8, 12, 0, 0},                     // TS whose length runs past the header
		{2, 1, 1, 1},                                     // length below 2
		{1, 1, 1, 1, 3, 3, 7, 0},                         // NOPs, wscale, EOL
		{5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1},            // SACK
		{254, 6, 1, 2, 3, 4, 1, 1, 3, 3, 0, 1},           // experimental, wscale, EOL padding
		{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, // more options than gopacket's array
	} {
		f := append(append(bytes.Clone(frame[:tcp+20]), opts...), frame[min(tcp+int(frame[tcp+12]>>4)*4, len(frame)):]...)
		f[tcp+12] = byte(5+len(opts)/4)<<4 | f[tcp+12]&0x0f
		binary.BigEndian.PutUint16(f[16:], uint16(len(f)-14))
		out = append(out, f)
	}
	return out
}

// TestDecodeMatchesGopacket decodes the corpus, variants of its TCP option lists and
// every truncation of their first 100 bytes with Decoder and with refDecoder, one pair of decoders
// for all, so that state left by one frame meets the next: both must agree on
// everything they decode.
func TestDecodeMatchesGopacket(t *testing.T) {
	eth, raw, sll := refFrames(t)
	var frames [][]byte
	for _, f := range eth {
		frames = append(frames, f)
		frames = append(frames, tcpVariants(f)...)
	}
	n := 0
	for _, tc := range []struct {
		link   layers.LinkType
		frames [][]byte
	}{{layers.LinkTypeEthernet, frames}, {layers.LinkTypeRaw, raw}, {layers.LinkTypeLinuxSLL, sll}} {
		d, ref := rawsock.NewDecoder(tc.link), newRefDecoder(tc.link)
		for i, f := range tc.frames {
			for cut := len(f); cut >= 0; cut-- {
				if cut > 100 && cut < len(f)-1 {
					continue // headers end before byte 100
				}
				n++
				if diff := diffDecode(d, ref, f[:cut]); diff != "" {
					t.Fatalf("link %v frame %d cut to %d of %d bytes (% x): %s", tc.link, i, cut, len(f), f[:cut], diff)
				}
			}
		}
	}
	t.Logf("%d frames decoded alike", n)
}

// FuzzDecodeMatchesGopacket holds Decoder to refDecoder on arbitrary frames, as
// Ethernet frames, bare IP packets and cooked (Linux SLL) frames.
func FuzzDecodeMatchesGopacket(f *testing.F) {
	eth, raw, sll := refFrames(f)
	for _, fr := range eth {
		f.Add(fr)
		for _, v := range tcpVariants(fr) {
			f.Add(v)
		}
	}
	for _, fr := range append(raw, sll...) {
		f.Add(fr)
	}
	var ds []*rawsock.Decoder
	var refs []*refDecoder
	for _, link := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeLinuxSLL} {
		ds, refs = append(ds, rawsock.NewDecoder(link)), append(refs, newRefDecoder(link))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		for i, d := range ds {
			if diff := diffDecode(d, refs[i], frame); diff != "" {
				t.Errorf("link %v % x: %s", d.LinkType(), frame, diff)
			}
		}
	})
}
