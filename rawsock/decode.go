package rawsock

import (
	"errors"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// ErrTruncated is returned (wrapped) by Decoder.Decode when a header claims more
// bytes than the frame holds.
var ErrTruncated = errors.New("truncated frame")

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
	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser // by first layer
}

// NewDecoder returns a decoder for frames of a pcap link type: layers.LinkTypeEthernet,
// layers.LinkTypeLinuxSLL (cooked captures) or layers.LinkTypeRaw (IP packets).
func NewDecoder(link layers.LinkType) *Decoder {
	d := &Decoder{link: link, Decoded: make([]gopacket.LayerType, 0, 8), parsers: map[gopacket.LayerType]*gopacket.DecodingLayerParser{}}
	for _, first := range []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layers.LayerTypeIPv4, layers.LayerTypeIPv6} {
		p := gopacket.NewDecodingLayerParser(first,
			&d.Ethernet, &d.SLL, &d.ARP, &d.IPv4, &d.IPv6, &d.IPv6Frag,
			&d.TCP, &d.UDP, &d.ICMPv4, &d.ICMPv6, &d.Payload)
		// Layers pktlab does not decode (ICMPv6 bodies, DNS, …) end decoding
		// quietly; the summary reads what it needs from the remaining bytes.
		p.IgnoreUnsupported = true
		d.parsers[first] = p
	}
	return d
}

// LinkType returns the link type the decoder was made for.
func (d *Decoder) LinkType() layers.LinkType { return d.link }

// Decode decodes one frame. It returns an error wrapping ErrTruncated when a header
// is cut short, and other errors for malformed headers; Decoded then lists the layers
// decoded before the fault. It never panics.
func (d *Decoder) Decode(frame []byte) error {
	d.Fragment = false
	d.Decoded = d.Decoded[:0]
	d.IPv6.HopByHop = nil
	first := layers.LayerTypeEthernet
	switch d.link {
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(frame) == 0 {
			return fmt.Errorf("rawsock: decode: empty packet: %w", ErrTruncated)
		}
		first = layers.LayerTypeIPv4
		if frame[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
	}
	p := d.parsers[first]
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
	if err != nil {
		last := first
		if n := len(d.Decoded); n > 0 {
			last = d.Decoded[n-1]
		}
		return fmt.Errorf("rawsock: decode after %v: %w", last, err)
	}
	if p.Truncated {
		return fmt.Errorf("rawsock: decode: %w", ErrTruncated)
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
