package rawsock

import (
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock/decode"
	"github.com/pktlab/pktlab/rawsock/header"
)

// Errors Decoder.Decode wraps: a frame cut short (a header, or the length an outer
// header gives, runs past its end), or a header whose fields contradict each other.
// They are rawsock/header's, so errors.Is holds for an error of either package.
var (
	ErrTruncated = header.ErrTruncated
	ErrMalformed = header.ErrMalformed
)

// Decoder decodes frames of one link type into its Headers (rawsock/decode) without
// allocating; TestDecodeMatchesGopacket and FuzzDecodeMatchesGopacket hold it to
// gopacket's DecodingLayerParser over the same layers. A Decoder is not safe for
// concurrent use; give each goroutine its own.
type Decoder struct {
	decode.Headers
	link layers.LinkType
}

// NewDecoder returns a decoder for frames of a pcap link type: layers.LinkTypeEthernet,
// layers.LinkTypeLinuxSLL (cooked captures) or layers.LinkTypeRaw (IP packets).
func NewDecoder(link layers.LinkType) *Decoder { return &Decoder{link: link} }

// LinkType returns the link type the decoder was made for.
func (d *Decoder) LinkType() layers.LinkType { return d.link }

// Decode decodes one frame into d.Headers, which alias the frame's bytes until the
// next Decode (decode.Headers.Decode).
func (d *Decoder) Decode(frame []byte) error { return d.Headers.Decode(d.link, frame) }
