package rawsock

import (
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock/decode"
	"github.com/pktlab/pktlab/rawsock/header"
)

// appendIPv4TCP is the summary of an Ethernet frame the decoder found to hold IPv4
// and TCP headers, in that order (decode.Headers.EtherIPv4TCP). Those checks made,
// the line is appendTCP's, reached without appendEtherType, appendIPv4,
// appendTransport and appendTCP checking the same bytes again. It returns ok false,
// having written nothing, for any other frame, and for a packet those print
// otherwise (an EtherType other than IPv4's, a version other than 4, a total
// length below the header length, a later fragment). TestFastSummaryMatches holds
// it to Append.
func (s *Summarizer) appendIPv4TCP(dst []byte, h *decode.Headers) ([]byte, bool) {
	t, ok := h.EtherIPv4TCP()
	// gopacket's registry, which the decoder follows, takes EtherType 0xffff
	// ("raw") for IPv4 too; the summary prints that type as it is.
	if !ok || h.Link() != layers.LinkTypeEthernet || header.Ethernet(h.Frame()).Type() != header.EtherTypeIPv4 {
		return dst, false
	}
	ip := header.IPv4(h.Frame()[header.EthernetLen:])
	hlen, total := ip.HeaderLen(), int(ip.TotalLength())
	if ip.Version() != 4 || total < hlen || ip.FragmentOffset() != 0 {
		return dst, false
	}
	// The decoder's TCP view is the IPv4 payload appendIPv4 would pass on (from
	// the header's end to the total length or the frame's end), and its header is
	// whole: appendTCP's checks hold. The prefix and the relative numbers need
	// the addresses of c, no more.
	var c ipCtx // field by field, as in appendIPv4
	c.src, c.dst, c.direct = ip.SrcBytes(), ip.DstBytes(), true
	dst = s.pfx.append(append(dst, "IP "...), &c, t.SrcPort(), t.DstPort())
	return s.appendTCPFields(dst, &c, t, true, total-hlen), true
}
