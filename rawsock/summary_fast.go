package rawsock

import "github.com/pktlab/pktlab/rawsock/header"

// appendIPv4TCP is the summary of a frame the decoder found to hold Ethernet, IPv4
// and TCP headers in that order (decode.Headers.EtherIPv4TCP): b is what follows the
// Ethernet header, t the decoded TCP header. Those checks made, the line is
// appendTCP's, reached without appendEtherType, appendIPv4, appendTransport and
// appendTCP checking the same bytes again. It returns ok false, having written nothing, for a
// packet those print otherwise (a version other than 4, a total length below the
// header length, a later fragment). TestFastSummaryMatches holds it to Append.
func (s *Summarizer) appendIPv4TCP(dst []byte, b []byte, t header.TCP) ([]byte, bool) {
	ip := header.IPv4(b)
	hlen, total := ip.HeaderLen(), int(ip.TotalLength())
	if ip.Version() != 4 || total < hlen || ip.FragmentOffset() != 0 {
		return dst, false
	}
	// The decoder's TCP view is the IPv4 payload appendIPv4 would pass on (from
	// the header's end to the total length or the frame's end), and its header is
	// whole: appendTCP's checks hold.
	var c ipCtx // field by field, as in appendIPv4
	c.src, c.dst, c.direct, c.pfx, c.tcp = ip.SrcBytes(), ip.DstBytes(), true, &s.pfx, t
	dst = s.pfx.append(append(dst, "IP "...), &c, t.SrcPort(), t.DstPort())
	return s.appendTCPFields(dst, &c, t, true, total-hlen), true
}
