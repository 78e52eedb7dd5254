package rawsock

import (
	"errors"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Errors Decoder.Decode wraps: a frame cut short (a header, or the length an outer
// header gives, runs past its end), or a header whose fields contradict each other.
var (
	ErrTruncated = errors.New("truncated frame")
	ErrMalformed = errors.New("malformed header")
)

// Decoder decodes frames into reused layers without allocating per frame (gopacket's
// DecodingLayerParser). After Decode, the layers named in Decoded hold the frame's
// headers; they alias the frame's bytes and stay valid until the next Decode. A
// Decoder is not safe for concurrent use; give each goroutine its own.
type Decoder struct {
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

	// Decoded lists the layers the last Decode filled, outermost first. An IPv6
	// hop-by-hop header is decoded into IPv6.HopByHop and not listed.
	Decoded []gopacket.LayerType
	// Fragment is true when the IP packet is a fragment other than a complete
	// datagram: its transport header is absent (offset > 0) or incomplete.
	Fragment bool

	link    layers.LinkType
	parsers [4]*gopacket.DecodingLayerParser // by first layer: Ethernet, SLL, IPv4, IPv6
}

// NewDecoder returns a decoder for frames of a pcap link type: layers.LinkTypeEthernet,
// layers.LinkTypeLinuxSLL (cooked captures) or layers.LinkTypeRaw (IP packets).
func NewDecoder(link layers.LinkType) *Decoder {
	d := &Decoder{link: link, Decoded: make([]gopacket.LayerType, 0, 8)}
	for i, first := range firstLayers {
		p := gopacket.NewDecodingLayerParser(first)
		// A slice indexed by layer type finds the next layer faster than the
		// default map (gopacket's parser.go).
		p.SetDecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
		for _, l := range []gopacket.DecodingLayer{&d.Ethernet, &d.SLL, &d.ARP, &d.IPv4, &d.IPv6, &d.IPv6Frag,
			&d.TCP, &d.UDP, &d.ICMPv4, &d.ICMPv6, &d.Payload} {
			p.AddDecodingLayer(l)
		}
		// Layers pktlab does not decode (ICMPv6 bodies, DNS, …) end decoding
		// quietly; the summary reads what it needs from the remaining bytes.
		p.IgnoreUnsupported = true
		d.parsers[i] = p
	}
	return d
}

// firstLayers are the layers a frame can start with, in the order of
// Decoder.parsers.
var firstLayers = [4]gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layers.LayerTypeIPv4, layers.LayerTypeIPv6}

// LinkType returns the link type the decoder was made for.
func (d *Decoder) LinkType() layers.LinkType { return d.link }

// Decode decodes one frame. It returns an error wrapping ErrTruncated when a header
// is cut short, and other errors for malformed headers; Decoded then lists the layers
// decoded before the fault. It never panics.
func (d *Decoder) Decode(frame []byte) error {
	d.Fragment = false
	d.Decoded = d.Decoded[:0]
	d.IPv6.HopByHop = nil
	fi := 0 // Ethernet
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
	first, p := firstLayers[fi], d.parsers[fi]
	p.Truncated = false
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
	switch {
	case err != nil && (p.Truncated || d.short(first, frame)):
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

// short reports whether the layer that failed had fewer bytes than its header needs.
func (d *Decoder) short(first gopacket.LayerType, frame []byte) bool {
	next, rest := first, frame
	if n := len(d.Decoded); n > 0 {
		l := d.layer(d.Decoded[n-1])
		next, rest = l.NextLayerType(), l.LayerPayload()
	}
	return len(rest) < headerLen(next, rest)
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

// layer returns the decoding layer for t, or nil if the decoder has none.
func (d *Decoder) layer(t gopacket.LayerType) gopacket.DecodingLayer {
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
	}
	return nil
}

// checkTCPOptions walks the option list of a TCP header (RFC 9293 §3.1): every
// option but EOL and NOP has a length of at least 2 that stays inside the header.
// gopacket accepts a list whose last option runs past the header.
func checkTCPOptions(h []byte) error {
	opts := h[min(20, len(h)):]
	for len(opts) > 0 {
		switch opts[0] {
		case 0:
			return nil
		case 1:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return fmt.Errorf("rawsock: decode TCP: option kind %d runs past the header: %w", opts[0], ErrMalformed)
		}
		opts = opts[opts[1]:]
	}
	return nil
}

// Has reports whether the last Decode filled layer t.
func (d *Decoder) Has(t gopacket.LayerType) bool {
	for _, l := range d.Decoded {
		if l == t {
			return true
		}
	}
	return false
}
