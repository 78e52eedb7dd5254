package rawsock

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock/header"
)

// Errors Decoder.Decode wraps: a frame cut short (a header, or the length an outer
// header gives, runs past its end), or a header whose fields contradict each other.
// They are rawsock/header's, so errors.Is holds for an error of either package.
var (
	ErrTruncated = header.ErrTruncated
	ErrMalformed = header.ErrMalformed
)

// maxLayers bounds the headers one frame may stack (IP in IP in IP …); a frame with
// more is malformed.
const maxLayers = 12

// Headers is a decoded frame: a view (rawsock/header) of each header it holds, over
// the frame's own bytes, and the list of those headers in order. A view is nil when
// the frame does not hold that header. Headers copies as a value (it holds no
// pointer of its own beyond the frame's bytes), so it can travel with the frame to
// the summary, the timeline and the matchers: it stays valid as long as the frame's
// bytes are not overwritten.
type Headers struct {
	Ethernet header.Ethernet
	SLL      header.SLL
	ARP      header.ARP
	IPv4     header.IPv4
	IPv6     header.IPv6
	// HopByHop is an IPv6 hop-by-hop options header, which Layers counts as part
	// of IPv6, as gopacket does.
	HopByHop header.IPv6ExtHeader
	IPv6Frag header.IPv6Fragment
	TCP      header.TCP
	UDP      header.UDP
	ICMPv4   header.ICMPv4
	ICMPv6   header.ICMPv6
	Payload  []byte

	// Fragment is true when the IP packet is a fragment other than a complete
	// datagram: its transport header is absent (offset > 0) or incomplete.
	Fragment bool

	layers [maxLayers]gopacket.LayerType
	n      uint8
	link   layers.LinkType
	frame  []byte
}

// tcpAt returns the decoded TCP header when it is the one that starts at b.
func (h *Headers) tcpAt(b []byte) header.TCP {
	if len(h.TCP) > 0 && len(b) > 0 && &h.TCP[0] == &b[0] {
		return h.TCP
	}
	return nil
}

// Frame is the frame the headers were decoded from.
func (h *Headers) Frame() []byte { return h.frame }

// Link is the frame's pcap link type.
func (h *Headers) Link() layers.LinkType { return h.link }

// Layers lists the headers decoded, outermost first, as gopacket names them
// (Ethernet, IPv4, TCP, Payload, …).
func (h *Headers) Layers() []gopacket.LayerType { return h.layers[:h.n] }

// Has reports whether the frame holds a header of type t.
func (h *Headers) Has(t gopacket.LayerType) bool {
	for _, l := range h.layers[:h.n] {
		if l == t {
			return true
		}
	}
	return false
}

// Src and Dst are the IP addresses of the outermost IP header, or of an ARP
// packet's sender and target; invalid when the frame holds neither.
func (h *Headers) Src() netip.Addr {
	switch {
	case h.IPv4 != nil:
		return h.IPv4.Src()
	case h.IPv6 != nil:
		return h.IPv6.Src()
	case h.ARP != nil:
		return h.ARP.SenderIP()
	}
	return netip.Addr{}
}

// Dst is the destination address: see Src.
func (h *Headers) Dst() netip.Addr {
	switch {
	case h.IPv4 != nil:
		return h.IPv4.Dst()
	case h.IPv6 != nil:
		return h.IPv6.Dst()
	case h.ARP != nil:
		return h.ARP.TargetIP()
	}
	return netip.Addr{}
}

// Ports are the transport ports of a TCP or UDP header, zero without one.
func (h *Headers) Ports() (src, dst uint16) {
	switch {
	case h.TCP != nil:
		return h.TCP.SrcPort(), h.TCP.DstPort()
	case h.UDP != nil:
		return h.UDP.SrcPort(), h.UDP.DstPort()
	}
	return 0, 0
}

// Decoder decodes frames into Headers without allocating: each header is a view
// checked once by its rawsock/header Parse function. It follows the headers as
// gopacket's DecodingLayerParser does over the same layers (Ethernet, Linux SLL,
// ARP, IPv4, IPv6 with hop-by-hop, IPv6 fragment, TCP, UDP, ICMPv4, ICMPv6,
// Payload; gopacket's registries say what follows what), and
// TestDecodeMatchesGopacket and FuzzDecodeMatchesGopacket hold the two to the same
// headers, fields and kind of error. A Decoder is not safe for concurrent use; give
// each goroutine its own.
type Decoder struct {
	Headers
	link layers.LinkType
}

// NewDecoder returns a decoder for frames of a pcap link type: layers.LinkTypeEthernet,
// layers.LinkTypeLinuxSLL (cooked captures) or layers.LinkTypeRaw (IP packets).
func NewDecoder(link layers.LinkType) *Decoder { return &Decoder{link: link} }

// LinkType returns the link type the decoder was made for.
func (d *Decoder) LinkType() layers.LinkType { return d.link }

// decodeState is what one Decode carries from header to header.
type decodeState struct {
	next gopacket.LayerType // what the last header announces after itself
	rest []byte             // the bytes after it
	// short is set when a length field ran past the frame (gopacket's
	// DecodeFeedback.SetTruncated): the frame decodes, but cut short.
	short gopacket.LayerType
	tcp   bool
}

var errEmpty = fmt.Errorf("rawsock: decode: empty packet: %w", ErrTruncated)

// Decode decodes one frame into d.Headers, which alias the frame's bytes until the
// next Decode. It returns an error wrapping ErrTruncated when a header is cut short,
// ErrMalformed for a header whose fields contradict each other; Layers then lists
// the headers decoded before the fault. It never panics.
func (d *Decoder) Decode(frame []byte) error {
	return d.Headers.Decode(d.link, frame)
}

// Decode decodes frame, of link type link, into h, as Decoder.Decode does: a Headers
// value decodes without a Decoder, for a frame that keeps its headers with it.
func (h *Headers) Decode(link layers.LinkType, frame []byte) error {
	*h = Headers{link: link, frame: frame}
	first := layers.LayerTypeEthernet
	switch link {
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(frame) == 0 {
			return errEmpty
		}
		first = layers.LayerTypeIPv4
		if frame[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
	}
	s := decodeState{next: first, rest: frame}
	if err := h.decodeLayers(&s); err != nil {
		return h.fail(first, err, s.short != 0)
	}
	if s.short != 0 {
		return fmt.Errorf("rawsock: decode %v: %w", h.last(first), ErrTruncated)
	}
	if h.n > 0 && len(s.rest) == 0 && !h.Fragment && s.next != gopacket.LayerTypePayload && decodes(s.next) {
		return fmt.Errorf("rawsock: decode: %v announces %v but the frame ends: %w", h.last(first), s.next, ErrTruncated)
	}
	if s.tcp {
		if k, ok := h.TCP.CheckOptions(); !ok {
			return fmt.Errorf("rawsock: decode TCP: option kind %d runs past the header: %w", k, ErrMalformed)
		}
	}
	return nil
}

// last is the last header decoded, or the first expected when none was.
func (h *Headers) last(first gopacket.LayerType) gopacket.LayerType {
	if h.n > 0 {
		return h.layers[h.n-1]
	}
	return first
}

// fail wraps the error of a header Parse. After an outer header's length ran past
// the frame (short), any fault is taken for truncation, as gopacket's sticky
// truncated flag has it: more bytes might well have held a good header.
func (h *Headers) fail(first gopacket.LayerType, err error, short bool) error {
	var he *header.Error
	if errors.As(err, &he) {
		kind := he.Kind
		if short {
			kind = ErrTruncated
		}
		return fmt.Errorf("rawsock: decode after %v: %w: %s %s", h.last(first), kind, he.Header, he.Reason)
	}
	return fmt.Errorf("rawsock: decode after %v: %w", h.last(first), err)
}

// push records that header t was decoded and what it announces after itself.
func (h *Headers) push(s *decodeState, t, next gopacket.LayerType, rest []byte) error {
	if int(h.n) == maxLayers {
		return &header.Error{Header: t.String(), Reason: "too many headers", Kind: ErrMalformed}
	}
	h.layers[h.n] = t
	h.n++
	s.next, s.rest = next, rest
	return nil
}

// decodeLayers decodes headers from s.rest, starting with s.next, until one
// announces a type without a decoder here (DNS, ICMPv6 bodies, …: the summary reads
// those from the bytes), no bytes remain, or a header fails.
func (h *Headers) decodeLayers(s *decodeState) error {
	for len(s.rest) > 0 || h.n == 0 {
		var err error
		data := s.rest
		switch s.next {
		case layers.LayerTypeEthernet:
			err = h.decodeEthernet(s, data)
		case layers.LayerTypeLinuxSLL:
			var v header.SLL
			if v, err = header.ParseSLL(data); err == nil {
				h.SLL = v
				err = h.push(s, layers.LayerTypeLinuxSLL, sllNext(v), v.Payload())
			}
		case layers.LayerTypeIPv4:
			err = h.decodeIPv4(s, data)
		case layers.LayerTypeIPv6:
			err = h.decodeIPv6(s, data)
		case layers.LayerTypeIPv6Fragment:
			err = h.decodeFragment(s, data)
		case layers.LayerTypeTCP:
			var v header.TCP
			if v, err = header.ParseTCP(data); err == nil {
				h.TCP, s.tcp = v, true
				err = h.push(s, layers.LayerTypeTCP, portsNext(layers.TCPPort(v.DstPort()).LayerType(), layers.TCPPort(v.SrcPort()).LayerType()), v.Payload())
			}
		case layers.LayerTypeUDP:
			err = h.decodeUDP(s, data)
		case layers.LayerTypeICMPv4:
			var v header.ICMPv4
			if v, err = header.ParseICMPv4(data); err == nil {
				h.ICMPv4 = v
				err = h.push(s, layers.LayerTypeICMPv4, gopacket.LayerTypePayload, v.Payload())
			}
		case layers.LayerTypeICMPv6:
			var v header.ICMPv6
			if v, err = header.ParseICMPv6(data); err == nil {
				h.ICMPv6 = v
				err = h.push(s, layers.LayerTypeICMPv6, icmp6Next(v), v[4:])
			}
		case layers.LayerTypeARP:
			var v header.ARP
			if v, err = header.ParseARP(data); err == nil {
				h.ARP = v
				err = h.push(s, layers.LayerTypeARP, gopacket.LayerTypePayload, v.Payload())
			}
		case gopacket.LayerTypePayload:
			h.Payload = data
			return h.push(s, gopacket.LayerTypePayload, gopacket.LayerTypeZero, nil)
		default:
			return nil // no decoder for the type: decoding ends quietly
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeEthernet decodes an Ethernet header. An 802.3 length field (a type below
// 0x0600) announces an LLC header, which is not decoded here; a length running past
// the frame marks it cut short, as gopacket does.
func (h *Headers) decodeEthernet(s *decodeState, data []byte) error {
	v, err := header.ParseEthernet(data)
	if err != nil {
		return err
	}
	h.Ethernet = v
	t := v.Type()
	if t < header.EtherTypeMinII {
		if int(t) > len(v.Payload()) {
			s.short = layers.LayerTypeEthernet
		}
		return h.push(s, layers.LayerTypeEthernet, layers.LayerTypeLLC, v.Payload()[:min(int(t), len(v.Payload()))])
	}
	return h.push(s, layers.LayerTypeEthernet, etherNext(t), v.Payload())
}

func (h *Headers) decodeIPv4(s *decodeState, data []byte) error {
	v, err := header.ParseIPv4(data)
	if v == nil {
		return err
	}
	if err != nil {
		s.short = layers.LayerTypeIPv4
	}
	h.IPv4 = v
	next := gopacket.LayerTypeFragment
	if v.Fragment() {
		h.Fragment = true
	} else if next = ipNext(v.Protocol()); layers.LayerClassIPv6Extension.Contains(next) {
		next = gopacket.LayerTypeZero // no extension headers in IPv4, as gopacket has it
	}
	return h.push(s, layers.LayerTypeIPv4, next, v.Payload())
}

func (h *Headers) decodeIPv6(s *decodeState, data []byte) error {
	v, err := header.ParseIPv6(data)
	if v == nil {
		return err
	}
	if err != nil {
		s.short = layers.LayerTypeIPv6
	}
	h.IPv6 = v
	next, rest := v.NextHeader(), v.Payload()
	if next == header.IPProtocolHopByHop {
		it := v.ExtHeaders()
		if !it.Next() {
			return it.Err()
		}
		h.HopByHop = it.Header()
		next, rest = it.Transport()
	}
	return h.push(s, layers.LayerTypeIPv6, ipNext(next), rest)
}

func (h *Headers) decodeFragment(s *decodeState, data []byte) error {
	if len(data) < header.IPv6FragmentLen {
		return &header.Error{Header: "IPv6 fragment", Reason: "header shorter than 8 bytes", Kind: ErrTruncated}
	}
	v := header.IPv6Fragment(data)
	h.IPv6Frag = v
	next := gopacket.LayerTypeFragment
	if v.Offset() != 0 || v.More() {
		h.Fragment = true
	} else {
		next = ipNext(v.NextHeader())
	}
	return h.push(s, layers.LayerTypeIPv6Fragment, next, v.Payload())
}

func (h *Headers) decodeUDP(s *decodeState, data []byte) error {
	v, err := header.ParseUDP(data)
	if v == nil {
		return err
	}
	if err != nil {
		s.short = layers.LayerTypeUDP
	}
	h.UDP = v
	next := portsNext(layers.UDPPort(v.DstPort()).LayerType(), layers.UDPPort(v.SrcPort()).LayerType())
	if next == layers.LayerTypeAGUEVar0 && len(v.Payload()) > 0 && v.Payload()[0]>>6 == 1 {
		next = layers.LayerTypeAGUEVar1 // as gopacket's UDP.NextLayerType tells GUE variants apart
	}
	return h.push(s, layers.LayerTypeUDP, next, v.Payload())
}

// portsNext is what gopacket's TCP and UDP layers announce: the layer the
// destination port's registry entry names, else the source port's.
func portsNext(dst, src gopacket.LayerType) gopacket.LayerType {
	if dst != gopacket.LayerTypePayload {
		return dst
	}
	return src
}

// etherNext is Ethernet.NextLayerType (EthernetType.LayerType): the layer type
// gopacket's EthernetTypeMetadata registers for t, read in place rather than through
// a copy of its 40-byte entry.
func etherNext(t header.EtherType) gopacket.LayerType {
	if m := &layers.EthernetTypeMetadata[t]; m.DecodeWith != nil {
		return m.LayerType
	}
	return gopacket.LayerTypeZero
}

// ipNext is IPProtocol.LayerType, read in place as etherNext reads its registry.
func ipNext(p header.IPProtocol) gopacket.LayerType {
	if m := &layers.IPProtocolMetadata[p]; m.DecodeWith != nil {
		return m.LayerType
	}
	return gopacket.LayerTypeZero
}

// sllNext is LinuxSLL.NextLayerType: an LLC header for a frame that had an 802.3
// length (libpcap writes protocol 0x0004), else the EtherType's layer.
func sllNext(v header.SLL) gopacket.LayerType {
	if v.Type() == header.EtherType(layers.LinuxSLL2EthernetTypeLLC) && v.AddrType() != uint16(layers.ARPHardwareTypeDot11Radiotap) {
		return layers.LayerTypeLLC
	}
	return etherNext(v.Type())
}

// icmp6Next is ICMPv6.NextLayerType: the layer of the message body its type names.
func icmp6Next(v header.ICMPv6) gopacket.LayerType {
	l := layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(uint8(v.Type()), uint8(v.Code()))}
	l.Payload = v[4:]
	return l.NextLayerType()
}

// decodes reports whether the decoder has a decoder for t.
func decodes(t gopacket.LayerType) bool {
	switch t {
	case layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layers.LayerTypeARP, layers.LayerTypeIPv4,
		layers.LayerTypeIPv6, layers.LayerTypeIPv6Fragment, layers.LayerTypeTCP, layers.LayerTypeUDP,
		layers.LayerTypeICMPv4, layers.LayerTypeICMPv6:
		return true
	}
	return false
}
