// Package decode decodes a captured frame once into Headers: where each header lies
// in the frame's bytes, handed out as rawsock/header views. It follows the headers
// as gopacket's DecodingLayerParser does over the same layers (its port and protocol
// registries say what follows what), allocates nothing and never panics.
//
// It owns the order of headers in a frame and the kinds of decoding fault
// (header.ErrTruncated, header.ErrMalformed); the layout of each header is
// rawsock/header's, the sockets that capture frames and the summaries are rawsock's.
// It makes no system call, so that the timeline and its renderers, which carry
// Headers with each frame, import no package that does.
package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock/header"
)

// The errors Decode wraps: rawsock/header's.
var (
	ErrTruncated = header.ErrTruncated
	ErrMalformed = header.ErrMalformed
)

// maxLayers bounds the headers one frame may stack (IP in IP in IP …); a frame with
// more is malformed.
const maxLayers = 12

// kind names the headers Headers keeps a view of.
type kind uint8

const (
	kEthernet kind = iota
	kSLL
	kARP
	kIPv4
	kIPv6
	kHopByHop
	kIPv6Frag
	kTCP
	kUDP
	kICMPv4
	kICMPv6
	kPayload
	numKinds
)

// layerOf is the gopacket layer type of each kind, as Layers lists them (the
// hop-by-hop header counts as part of IPv6, as gopacket has it).
var layerOf = [numKinds]gopacket.LayerType{
	kEthernet: layers.LayerTypeEthernet, kSLL: layers.LayerTypeLinuxSLL, kARP: layers.LayerTypeARP,
	kIPv4: layers.LayerTypeIPv4, kIPv6: layers.LayerTypeIPv6, kHopByHop: layers.LayerTypeIPv6HopByHop,
	kIPv6Frag: layers.LayerTypeIPv6Fragment, kTCP: layers.LayerTypeTCP, kUDP: layers.LayerTypeUDP,
	kICMPv4: layers.LayerTypeICMPv4, kICMPv6: layers.LayerTypeICMPv6, kPayload: gopacket.LayerTypePayload,
}

// Headers is a decoded frame: where each header it holds lies in the frame's own
// bytes, and the order of those headers. Each accessor (TCP, IPv4, …) returns the
// rawsock/header view of its header, nil when the frame holds none; a header that
// occurs twice (IP in IP) is the outermost. Headers is a small value with no pointer
// but the frame's, so it travels with the frame to the summary, the timeline and the
// matchers, and stays valid as long as the frame's bytes are not overwritten.
type Headers struct {
	frame []byte
	// off and end bound each kind's view in frame; present has bit k set for the
	// kinds decoded.
	off, end [numKinds]uint32
	present  uint16
	layers   [maxLayers]kind
	n        uint8
	link     layers.LinkType

	// Fragment is true when the IP packet is a fragment other than a complete
	// datagram: its transport header is absent (offset > 0) or incomplete.
	Fragment bool
}

// view returns the bytes of kind k, nil if the frame holds none.
func (h *Headers) view(k kind) []byte {
	if h.present&(1<<k) == 0 {
		return nil
	}
	return h.frame[h.off[k]:h.end[k]:h.end[k]]
}

// Ethernet is the Ethernet header and what follows it.
func (h *Headers) Ethernet() header.Ethernet { return header.Ethernet(h.view(kEthernet)) }

// SLL is the Linux cooked-capture header of a cooked frame.
func (h *Headers) SLL() header.SLL { return header.SLL(h.view(kSLL)) }

// ARP is the ARP packet.
func (h *Headers) ARP() header.ARP { return header.ARP(h.view(kARP)) }

// IPv4 is the outermost IPv4 packet, as far as its total length reaches.
func (h *Headers) IPv4() header.IPv4 { return header.IPv4(h.view(kIPv4)) }

// IPv6 is the outermost IPv6 packet, as far as its payload length reaches.
func (h *Headers) IPv6() header.IPv6 { return header.IPv6(h.view(kIPv6)) }

// HopByHop is the IPv6 hop-by-hop options header, which Layers counts as part of
// IPv6, as gopacket does.
func (h *Headers) HopByHop() header.IPv6OptionsHeader {
	return header.IPv6OptionsHeader(h.view(kHopByHop))
}

// IPv6Frag is the IPv6 fragment header and what follows it.
func (h *Headers) IPv6Frag() header.IPv6Fragment { return header.IPv6Fragment(h.view(kIPv6Frag)) }

// TCP is the TCP segment.
func (h *Headers) TCP() header.TCP { return header.TCP(h.view(kTCP)) }

// UDP is the UDP datagram, as far as its length reaches.
func (h *Headers) UDP() header.UDP { return header.UDP(h.view(kUDP)) }

// ICMPv4 is the ICMP message.
func (h *Headers) ICMPv4() header.ICMPv4 { return header.ICMPv4(h.view(kICMPv4)) }

// ICMPv6 is the ICMPv6 message.
func (h *Headers) ICMPv6() header.ICMPv6 { return header.ICMPv6(h.view(kICMPv6)) }

// Payload is what follows the last header decoded when no decoder reads it further
// (a segment's data, an echo's body), nil when Layers does not end in Payload.
func (h *Headers) Payload() []byte { return h.view(kPayload) }

// Layers lists the headers decoded, outermost first, as gopacket names them
// (Ethernet, IPv4, TCP, Payload, …). It allocates; Has does not.
func (h *Headers) Layers() []gopacket.LayerType {
	out := make([]gopacket.LayerType, h.n)
	for i, k := range h.layers[:h.n] {
		out[i] = layerOf[k]
	}
	return out
}

// Has reports whether the frame holds a header of type t.
func (h *Headers) Has(t gopacket.LayerType) bool {
	for _, k := range h.layers[:h.n] {
		if layerOf[k] == t {
			return true
		}
	}
	return false
}

// last is the gopacket type of the last header decoded, or first when none was.
func (h *Headers) last(first gopacket.LayerType) gopacket.LayerType {
	if h.n > 0 {
		return layerOf[h.layers[h.n-1]]
	}
	return first
}

// Addrs are the addresses of the outermost IP header, or an ARP packet's sender and
// target; invalid when the frame holds neither.
func (h *Headers) Addrs() (src, dst netip.Addr) {
	switch {
	case h.present&(1<<kIPv4) != 0:
		return h.IPv4().Src(), h.IPv4().Dst()
	case h.present&(1<<kIPv6) != 0:
		return h.IPv6().Src(), h.IPv6().Dst()
	case h.present&(1<<kARP) != 0:
		return h.ARP().SenderIP(), h.ARP().TargetIP()
	}
	return netip.Addr{}, netip.Addr{}
}

// Ports are the transport ports of a TCP or UDP header, zero without one.
func (h *Headers) Ports() (src, dst uint16) {
	if t := h.TCP(); t != nil {
		return t.SrcPort(), t.DstPort()
	}
	if u := h.UDP(); u != nil {
		return u.SrcPort(), u.DstPort()
	}
	return 0, 0
}

// EtherIPv4TCP returns the TCP header of a frame whose first headers are Ethernet,
// IPv4 and TCP, in that order (so the TCP header follows the IPv4 header, whatever
// its length, and the packet is no fragment), with ok true; a summary of such a
// frame takes a shorter path.
func (h *Headers) EtherIPv4TCP() (t header.TCP, ok bool) {
	if h.n < 3 || h.layers[0] != kEthernet || h.layers[1] != kIPv4 || h.layers[2] != kTCP {
		return nil, false
	}
	return h.frame[h.off[kTCP]:h.end[kTCP]:h.end[kTCP]], true
}

// TCPAt returns the decoded TCP header when it is the one that starts at b (a
// summary walking the bytes uses it instead of checking the header again).
func (h *Headers) TCPAt(b []byte) header.TCP {
	if t := h.TCP(); len(t) > 0 && len(b) > 0 && &t[0] == &b[0] {
		return t
	}
	return nil
}

// On returns the same headers over frame, a copy of the bytes they were decoded from
// (the headers record where each header lies, not its bytes): a capture that decodes
// a frame in its read buffer hands the headers on with the copy it keeps, and the frame
// is not decoded again.
func (h Headers) On(frame []byte) Headers {
	if len(frame) != len(h.frame) {
		panic("rawsock: Headers.On a frame of another length")
	}
	h.frame = frame
	return h
}

// Frame is the frame the headers were decoded from.
func (h *Headers) Frame() []byte { return h.frame }

// Link is the frame's pcap link type.
func (h *Headers) Link() layers.LinkType { return h.link }

// decodeState is what one Decode carries from header to header.
type decodeState struct {
	next gopacket.LayerType // what the last header announces after itself
	rest []byte             // the bytes after it
	pos  int                // where rest starts in the frame
	// short is set when a length field ran past the frame (gopacket's
	// DecodeFeedback.SetTruncated): the frame decodes, but cut short.
	short gopacket.LayerType
	tcp   bool
}

var errEmpty = fmt.Errorf("rawsock: decode: empty packet: %w", ErrTruncated)

// Decode decodes frame, of pcap link type link (layers.LinkTypeEthernet,
// LinkTypeLinuxSLL for cooked captures, LinkTypeRaw for IP packets), into h, whose
// views alias the frame's bytes. It returns an error wrapping ErrTruncated when a
// header is cut short, ErrMalformed for a header whose fields contradict each other;
// h then holds the headers decoded before the fault. It never panics.
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
	if link == layers.LinkTypeEthernet && fastPath {
		h.decodeEtherIPv4TCP(&s)
		if h.n > 0 && len(s.rest) == 0 && !s.tcp && (s.next == gopacket.LayerTypePayload || s.next == gopacket.LayerTypeZero) {
			return nil // nothing left that the checks below look at
		}
	}
	if len(s.rest) > 0 || h.n == 0 { // decodeLayers' own condition
		if err := h.decodeLayers(&s); err != nil {
			return h.fail(first, err, s.short != 0)
		}
	}
	if s.short != 0 {
		return fmt.Errorf("rawsock: decode %v: %w", h.last(first), ErrTruncated)
	}
	if h.n > 0 && len(s.rest) == 0 && !h.Fragment && s.next != gopacket.LayerTypePayload && decodes(s.next) {
		return fmt.Errorf("rawsock: decode: %v announces %v but the frame ends: %w", h.last(first), s.next, ErrTruncated)
	}
	if s.tcp {
		if k, ok := h.TCP().CheckOptions(); !ok {
			return fmt.Errorf("rawsock: decode TCP: option kind %d runs past the header: %w", k, ErrMalformed)
		}
	}
	return nil
}

// fastPath enables decodeEtherIPv4TCP; TestFastPathMatches turns it off to hold the
// shortcut to decodeLayers.
var fastPath = true

// decodeEtherIPv4TCP decodes at once the headers of the frame a capture holds most
// often: Ethernet, an IPv4 header without options of a packet that is no fragment,
// and a whole TCP header. It makes the pushes decodeLayers makes for those three
// headers, without its dispatch on the type each announces and the checks a frame
// of another shape needs, and leaves s where decodeLayers goes on: after the TCP
// header, with what its ports announce. A frame of any other shape, or whose
// registries (EthernetTypeMetadata, IPProtocolMetadata) say otherwise, is left to
// decodeLayers whole (s unchanged). TestFastPathMatches holds both to the same
// Headers and errors.
func (h *Headers) decodeEtherIPv4TCP(s *decodeState) {
	f := s.rest
	if len(f) < header.EthernetLen+header.IPv4MinLen+header.TCPMinLen ||
		binary.BigEndian.Uint16(f[12:14]) != uint16(header.EtherTypeIPv4) || f[14]&0x0f != 5 {
		return
	}
	ip := f[header.EthernetLen:]
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	// A total length of 0 (segmentation offload), one running past the frame or too
	// short for a TCP header, a fragment, another protocol: decodeLayers.
	if total < header.IPv4MinLen+header.TCPMinLen || total > len(ip) ||
		binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 || header.IPProtocol(ip[9]) != header.IPProtocolTCP {
		return
	}
	t := ip[header.IPv4MinLen:total]
	doff := int(t[12]>>4) * 4
	if doff < header.TCPMinLen || doff > len(t) ||
		etherNext(header.EtherTypeIPv4) != layers.LayerTypeIPv4 || ipNext(header.IPProtocolTCP) != layers.LayerTypeTCP {
		return
	}
	const ipOff, tcpOff = header.EthernetLen, header.EthernetLen + header.IPv4MinLen
	h.layers[0], h.layers[1], h.layers[2], h.n = kEthernet, kIPv4, kTCP, 3
	h.present = 1<<kEthernet | 1<<kIPv4 | 1<<kTCP
	h.off[kEthernet], h.end[kEthernet] = 0, uint32(len(f))
	h.off[kIPv4], h.end[kIPv4] = ipOff, uint32(ipOff+total)
	h.off[kTCP], h.end[kTCP] = tcpOff, uint32(ipOff+total)
	// The options are checked at the end (s.tcp), unless there are none or their
	// layout is one of Linux's, which are well formed.
	s.next, s.rest, s.pos = tcpNext(header.TCP(t)), t[doff:], tcpOff+doff
	s.tcp = doff > header.TCPMinLen && header.OptionLayoutOf(t[header.TCPMinLen:doff]) == header.TCPOptionsOther
	if s.next == gopacket.LayerTypePayload && len(s.rest) > 0 {
		// The segment's data, as decodeLayers pushes it.
		h.layers[3], h.n = kPayload, 4
		h.present |= 1 << kPayload
		h.off[kPayload], h.end[kPayload] = uint32(s.pos), uint32(ipOff+total)
		s.next, s.rest, s.pos = gopacket.LayerTypeZero, nil, ipOff+total
	}
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

// push records that a header of kind k, whose view v starts at s.pos and whose
// header proper is hlen bytes, was decoded, and what it announces after itself: next,
// in rest, which starts hlen bytes on. The outermost header of a kind is the one kept.
func (h *Headers) push(s *decodeState, k kind, v []byte, hlen int, next gopacket.LayerType, rest []byte) error {
	if int(h.n) == maxLayers {
		return &header.Error{Header: layerOf[k].String(), Reason: "too many headers", Kind: ErrMalformed}
	}
	h.layers[h.n] = k
	h.n++
	if h.present&(1<<k) == 0 {
		h.present |= 1 << k
		h.off[k], h.end[k] = uint32(s.pos), uint32(s.pos+len(v))
	}
	s.next, s.rest, s.pos = next, rest, s.pos+hlen
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
				err = h.push(s, kSLL, v, header.SLLLen, sllNext(v), v.Payload())
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
				s.tcp = s.tcp || h.present&(1<<kTCP) == 0
				err = h.push(s, kTCP, v, v.DataOffset(), tcpNext(v), v.Payload())
			}
		case layers.LayerTypeUDP:
			err = h.decodeUDP(s, data)
		case layers.LayerTypeICMPv4:
			var v header.ICMPv4
			if v, err = header.ParseICMPv4(data); err == nil {
				err = h.push(s, kICMPv4, v, header.ICMPv4MinLen, gopacket.LayerTypePayload, v.Payload())
			}
		case layers.LayerTypeICMPv6:
			var v header.ICMPv6
			if v, err = header.ParseICMPv6(data); err == nil {
				err = h.push(s, kICMPv6, v, 4, icmp6Next(v), v[4:])
			}
		case layers.LayerTypeARP:
			var v header.ARP
			if v, err = header.ParseARP(data); err == nil {
				err = h.push(s, kARP, v, v.Len(), gopacket.LayerTypePayload, v.Payload())
			}
		case gopacket.LayerTypePayload:
			return h.push(s, kPayload, data, len(data), gopacket.LayerTypeZero, nil)
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
	t := v.Type()
	if t < header.EtherTypeMinII {
		if int(t) > len(v.Payload()) {
			s.short = layers.LayerTypeEthernet
		}
		return h.push(s, kEthernet, v, header.EthernetLen, layers.LayerTypeLLC, v.Payload()[:min(int(t), len(v.Payload()))])
	}
	return h.push(s, kEthernet, v, header.EthernetLen, etherNext(t), v.Payload())
}

func (h *Headers) decodeIPv4(s *decodeState, data []byte) error {
	v, err := header.ParseIPv4(data)
	if v == nil {
		return err
	}
	if err != nil {
		s.short = layers.LayerTypeIPv4
	}
	next := gopacket.LayerTypeFragment
	if v.Fragment() {
		h.Fragment = true
	} else if next = ipNext(v.Protocol()); v.Protocol().IPv6Extension() {
		next = gopacket.LayerTypeZero // no extension headers in IPv4, as gopacket has it
	}
	return h.push(s, kIPv4, v, v.HeaderLen(), next, v.Payload())
}

func (h *Headers) decodeIPv6(s *decodeState, data []byte) error {
	v, err := header.ParseIPv6(data)
	if v == nil {
		return err
	}
	if err != nil {
		s.short = layers.LayerTypeIPv6
	}
	next, rest, hlen := v.NextHeader(), v.Payload(), header.IPv6Len
	if next == header.IPProtocolHopByHop {
		it := v.ExtHeaders()
		if !it.Next() {
			return it.Err()
		}
		if h.present&(1<<kIPv6) == 0 {
			hbh := it.Header().Bytes
			h.present |= 1 << kHopByHop
			h.off[kHopByHop], h.end[kHopByHop] = uint32(s.pos+header.IPv6Len), uint32(s.pos+header.IPv6Len+len(hbh))
		}
		next, rest = it.Transport()
		hlen += len(it.Header().Bytes)
	}
	return h.push(s, kIPv6, v, hlen, ipNext(next), rest)
}

func (h *Headers) decodeFragment(s *decodeState, data []byte) error {
	if len(data) < header.IPv6FragmentLen {
		return &header.Error{Header: "IPv6 fragment", Reason: "header shorter than 8 bytes", Kind: ErrTruncated}
	}
	v := header.IPv6Fragment(data)
	next := gopacket.LayerTypeFragment
	if v.Offset() != 0 || v.More() {
		h.Fragment = true
	} else {
		next = ipNext(v.NextHeader())
	}
	return h.push(s, kIPv6Frag, v, header.IPv6FragmentLen, next, v.Payload())
}

func (h *Headers) decodeUDP(s *decodeState, data []byte) error {
	v, err := header.ParseUDP(data)
	if v == nil {
		return err
	}
	if err != nil {
		s.short = layers.LayerTypeUDP
	}
	next := layers.UDPPort(v.DstPort()).LayerType()
	if next == gopacket.LayerTypePayload {
		next = layers.UDPPort(v.SrcPort()).LayerType()
	}
	if next == layers.LayerTypeAGUEVar0 && len(v.Payload()) > 0 && v.Payload()[0]>>6 == 1 {
		next = layers.LayerTypeAGUEVar1 // as gopacket's UDP.NextLayerType tells GUE variants apart
	}
	return h.push(s, kUDP, v, header.UDPLen, next, v.Payload())
}

// tcpNext is what gopacket's TCP layer announces: the layer the destination port's
// registry entry names, else the source port's (as UDP's does, in decodeUDP). The
// source port is looked up only when the destination's entry is Payload.
func tcpNext(t header.TCP) gopacket.LayerType {
	if next := layers.TCPPort(t.DstPort()).LayerType(); next != gopacket.LayerTypePayload {
		return next
	}
	return layers.TCPPort(t.SrcPort()).LayerType()
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
