package rawsock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// refDecoder is the decoder as it was before Decoder called the layers itself: a
// gopacket DecodingLayerParser over the same layers, gopacket decoding every TCP
// option. TestDecodeMatchesParser and FuzzDecodeMatchesParser hold Decoder to it.
type refDecoder struct {
	Decoder
	parsers [4]*gopacket.DecodingLayerParser // by first layer: Ethernet, SLL, IPv4, IPv6
}

var refFirstLayers = [4]gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layers.LayerTypeIPv4, layers.LayerTypeIPv6}

func newRefDecoder(link layers.LinkType) *refDecoder {
	d := &refDecoder{Decoder: Decoder{link: link, Decoded: make([]gopacket.LayerType, 0, 8)}}
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
			return fmt.Errorf("rawsock: decode: empty packet: %w", ErrTruncated)
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
		return fmt.Errorf("rawsock: decode after %v: %w: %v", last, ErrTruncated, err)
	case err != nil:
		return fmt.Errorf("rawsock: decode after %v: %w: %v", last, ErrMalformed, err)
	case p.Truncated:
		return fmt.Errorf("rawsock: decode %v: %w", last, ErrTruncated)
	}
	if l := d.layer(last); l != nil && len(l.LayerPayload()) == 0 && !d.Fragment {
		if next := l.NextLayerType(); next != gopacket.LayerTypePayload && next != gopacket.LayerTypeZero && d.layer(next) != nil {
			return fmt.Errorf("rawsock: decode: %v announces %v but the frame ends: %w", last, next, ErrTruncated)
		}
	}
	if d.Has(layers.LayerTypeTCP) {
		return checkTCPOptions(d.TCP.Contents)
	}
	return nil
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

// diffDecode decodes frame with d and ref and describes how they differ: error,
// layer list, fragment flag, or the content of any layer decoded (every field,
// unexported ones too, compared by value).
func diffDecode(d *Decoder, ref *refDecoder, frame []byte) string {
	err, refErr := d.Decode(frame), ref.Decode(frame)
	if fmt.Sprint(err) != fmt.Sprint(refErr) {
		return fmt.Sprintf("error %v, parser's %v", err, refErr)
	}
	if !reflect.DeepEqual(d.Decoded, ref.Decoded) || d.Fragment != ref.Fragment {
		return fmt.Sprintf("layers %v fragment %v, parser's %v fragment %v", d.Decoded, d.Fragment, ref.Decoded, ref.Fragment)
	}
	for _, t := range d.Decoded {
		var got, want any
		switch t {
		case gopacket.LayerTypePayload:
			got, want = d.Payload, ref.Payload
		default:
			got, want = reflect.ValueOf(d).Elem().FieldByName(layerField[t]).Interface(),
				reflect.ValueOf(&ref.Decoder).Elem().FieldByName(layerField[t]).Interface()
		}
		if diff := cmp.Diff(want, got, allFields); diff != "" {
			return fmt.Sprintf("%v layer (-parser +decoder):\n%s", t, diff)
		}
	}
	return ""
}

// allFields compares unexported fields too (a TCP layer's port bytes, which its
// TransportFlow reads), except the array behind a TCP layer's first four options,
// whose entries past len(Options) are left from earlier frames.
var allFields = cmp.Options{
	cmp.Exporter(func(reflect.Type) bool { return true }),
	cmp.Comparer(bytes.Equal), // byte by byte is slow to walk for a 1448-byte payload
	cmp.FilterPath(func(p cmp.Path) bool {
		f, ok := p.Last().(cmp.StructField)
		return ok && f.Name() == "opts"
	}, cmp.Ignore()),
}

var layerField = map[gopacket.LayerType]string{
	layers.LayerTypeEthernet: "Ethernet", layers.LayerTypeLinuxSLL: "SLL", layers.LayerTypeARP: "ARP",
	layers.LayerTypeIPv4: "IPv4", layers.LayerTypeIPv6Fragment: "IPv6Frag", layers.LayerTypeUDP: "UDP",
	layers.LayerTypeICMPv4: "ICMPv4", layers.LayerTypeICMPv6: "ICMPv6", layers.LayerTypeIPv6: "IPv6",
	layers.LayerTypeTCP: "TCP",
}

// refFrames returns the Ethernet frames of the corpus captures and of
// testdata/bench.pcap, the same frames without their Ethernet header, and the cooked
// (Linux SLL) frames of testdata/corpus-cooked.pcap.
func refFrames(tb testing.TB) (eth, raw, sll [][]byte) {
	for _, path := range []string{"testdata/corpus.pcapng", "testdata/corpus.pcap", "testdata/corpus-cooked.pcap", "testdata/bench.pcap"} {
		f, err := os.Open(path)
		if err != nil {
			tb.Fatal(err)
		}
		r, err := NewFileReader(f)
		if err != nil {
			tb.Fatal(err)
		}
		for {
			fr, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				tb.Fatal(err)
			}
			frame := bytes.Clone(fr.Data)
			if fr.Link == layers.LinkTypeLinuxSLL {
				sll = append(sll, frame)
				continue
			}
			eth = append(eth, frame)
			if len(frame) > 14 {
				raw = append(raw, frame[14:])
			}
		}
		f.Close()
	}
	return eth, raw, sll
}

// tcpVariants returns copies of an Ethernet+IPv4 TCP frame with other option lists.
func tcpVariants(frame []byte) [][]byte {
	if len(frame) < 34 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 || frame[23] != protoTCP {
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

// TestDecodeMatchesParser decodes the corpus, variants of its TCP option lists and
// every truncation of their first 100 bytes with Decoder and with refDecoder, one pair of decoders
// for all, so that state left by one frame meets the next: both must agree on
// everything they decode.
func TestDecodeMatchesParser(t *testing.T) {
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
		d, ref := NewDecoder(tc.link), newRefDecoder(tc.link)
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

// FuzzDecodeMatchesParser holds Decoder to refDecoder on arbitrary frames, as
// Ethernet frames, bare IP packets and cooked (Linux SLL) frames.
func FuzzDecodeMatchesParser(f *testing.F) {
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
	var ds []*Decoder
	var refs []*refDecoder
	for _, link := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeLinuxSLL} {
		ds, refs = append(ds, NewDecoder(link)), append(refs, newRefDecoder(link))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		for i, d := range ds {
			if diff := diffDecode(d, refs[i], frame); diff != "" {
				t.Errorf("link %v % x: %s", d.link, frame, diff)
			}
		}
	})
}
