package rawsock

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock/decode"
	"github.com/pktlab/pktlab/rawsock/header"
)

// Summarizer writes one-line summaries of frames in the format of `tcpdump -n`
// (without the timestamp), so that what pktlab prints reads like what users already
// know. It keeps per-connection state, as tcpdump does, to print TCP sequence and
// acknowledgement numbers relative to the first segment with ACK of a connection.
// Use one Summarizer per stream of frames; it is not safe for concurrent use.
//
// The format follows tcpdump 4.99 (print-ether.c, print-ip.c, print-ip6.c,
// print-tcp.c, print-udp.c, print-icmp.c, print-icmp6.c, print-arp.c); the
// differences are listed in docs/summaries.md.
type Summarizer struct {
	// Absolute prints absolute TCP sequence numbers (tcpdump -S).
	Absolute bool

	flows  map[flowKey]seqBase
	flows4 map[flowKey4]seqBase
	last4  lastFlow4 // the IPv4 connection met last: most segments are of the one before
	pfx    prefixCache
}

// lastFlow4 is an entry of flows4 kept aside, as it was last written or read.
type lastFlow4 struct {
	key  flowKey4
	base seqBase
	ok   bool
}

// prefixCache keeps the text "src.sport > dst.dport: " of the last two address and
// port pairs a summary began with: both directions of the conversation a capture
// is mostly made of. Writing the two addresses and ports is a third of the time of
// a line; comparing 12 bytes and copying 40 is a tenth of that.
type prefixCache struct {
	e    [2]prefixEntry
	next uint8 // the entry to replace
}

type prefixEntry struct {
	key prefixKey
	n   uint8
	// The text, in two arrays: an IPv4 prefix (47 bytes at most) is the copy of
	// head alone, and copying an array field is a few moves where copying a part
	// of one is a call to memmove.
	head [64]byte
	tail [40]byte
}

// prefixTextMax is the longest text an entry holds.
const prefixTextMax = 64 + 40

// prefixKey holds the addresses and ports as words, so that building and comparing
// it takes a few loads instead of copies: for IPv4 the two addresses in k[0], for
// IPv6 in k[0:4]; the ports and the family in k[4].
type prefixKey [5]uint64

// append appends the prefix for c and the ports, from the cache when it holds it.
func (p *prefixCache) append(dst []byte, c *ipCtx, sport, dport uint16) []byte {
	var key prefixKey
	key[4] = uint64(sport)<<16 | uint64(dport) | 4<<32
	if c.v6 {
		key[0], key[1] = binary.LittleEndian.Uint64(c.src), binary.LittleEndian.Uint64(c.src[8:])
		key[2], key[3] = binary.LittleEndian.Uint64(c.dst), binary.LittleEndian.Uint64(c.dst[8:])
		key[4] |= 6 << 32
	} else {
		key[0] = uint64(binary.LittleEndian.Uint32(c.src)) | uint64(binary.LittleEndian.Uint32(c.dst))<<32
	}
	l := len(dst)
	for i := range p.e {
		// Word by word: == on the array is a call to memequal. An IPv4 key's
		// k[1:4] are zero, so an entry of that family (k[4]) has them equal.
		if e := &p.e[i]; e.key[0] == key[0] && e.key[4] == key[4] && (!c.v6 || e.key[1] == key[1] && e.key[2] == key[2] && e.key[3] == key[3]) && e.n > 0 {
			// One fixed-size copy, as the number appenders do.
			dst = room(dst, prefixTextMax)
			*(*[64]byte)(dst[l : l+64]) = e.head
			if e.n > 64 {
				*(*[40]byte)(dst[l+64 : l+prefixTextMax]) = e.tail
			}
			return dst[:l+int(e.n)]
		}
	}
	dst = c.formatPorts(dst, sport, dport)
	if text := dst[l:]; len(text) <= prefixTextMax { // always, for addresses netip writes
		e := &p.e[p.next]
		p.next ^= 1
		e.key, e.n = key, uint8(len(text))
		copy(e.tail[:], text[copy(e.head[:], text):])
	}
	return dst
}

// flowKey names a TCP connection in a canonical order, so both directions share an
// entry, as tcpdump's tcp_seq_hash does: the side with the lower port first (for
// equal ports, the lower address).
type flowKey struct {
	src, dst [16]byte
	ports    uint32
}

// flowKey4 is flowKey for IPv4: a 12-byte key hashes and compares in a third of the
// time of a 36-byte one.
type flowKey4 struct {
	src, dst [4]byte
	ports    uint32
}

// seqBase holds the sequence numbers that relative numbers count from: seq for the
// canonical first side, ack for the other.
type seqBase struct{ seq, ack uint32 }

// NewSummarizer returns a Summarizer with no connections seen.
func NewSummarizer() *Summarizer {
	return &Summarizer{flows: make(map[flowKey]seqBase), flows4: make(map[flowKey4]seqBase)}
}

// Reset forgets all connections.
func (s *Summarizer) Reset() {
	clear(s.flows)
	clear(s.flows4)
	s.last4, s.pfx = lastFlow4{}, prefixCache{}
}

// Append appends the summary of frame, of the given link type, to dst. It reads
// the headers through rawsock/header's views as it goes; AppendHeaders starts from
// those a Decoder already made.
func (s *Summarizer) Append(dst []byte, link layers.LinkType, frame []byte) []byte {
	return s.append(dst, link, frame, nil)
}

// AppendHeaders appends the summary of the frame h was decoded from, reading the
// headers h holds instead of checking their bytes again. The text is Append's.
func (s *Summarizer) AppendHeaders(dst []byte, h *decode.Headers) []byte {
	if out, ok := s.appendIPv4TCP(dst, h); ok {
		return out
	}
	return s.append(dst, h.Link(), h.Frame(), h)
}

// append is Append, with the decoded headers h when there are.
func (s *Summarizer) append(dst []byte, link layers.LinkType, frame []byte, h *decode.Headers) []byte {
	switch link {
	case layers.LinkTypeEthernet:
		if len(frame) < header.EthernetLen {
			return append(dst, "[|ether]"...)
		}
		e := header.Ethernet(frame)
		return s.appendEtherType(dst, e.Type(), e.Payload(), h)
	case layers.LinkTypeLinuxSLL:
		if len(frame) < header.SLLLen {
			return append(dst, "[|sll]"...)
		}
		l := header.SLL(frame)
		return s.appendEtherType(dst, l.Type(), l.Payload(), h)
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(frame) > 0 && frame[0]>>4 == 6 {
			return s.appendIPv6(append(dst, "IP6 "...), frame, h)
		}
		return s.appendIPv4(append(dst, "IP "...), frame, h)
	}
	return append(dst, "unsupported link type "+strconv.Itoa(int(link))...)
}

func (s *Summarizer) appendEtherType(dst []byte, et header.EtherType, b []byte, h *decode.Headers) []byte {
	switch et {
	case header.EtherTypeIPv4:
		return s.appendIPv4(append(dst, "IP "...), b, h)
	case header.EtherTypeIPv6:
		return s.appendIPv6(append(dst, "IP6 "...), b, h)
	case header.EtherTypeARP:
		return appendARP(dst, b)
	}
	dst = append(dst, "ethertype 0x"...)
	dst = appendHex(dst, uint64(et), 4)
	return appendLength(dst, len(b))
}

func appendLength(dst []byte, n int) []byte {
	dst = append(dst, ", length "...)
	if n < 0 {
		return strconv.AppendInt(dst, int64(n), 10)
	}
	return appendUint(dst, uint64(n))
}

// appendHex appends v as lower-case hex, zero-padded to width digits.
func appendHex(dst []byte, v uint64, width int) []byte {
	const digits = "0123456789abcdef"
	for i := width - 1; i >= 0; i-- {
		dst = append(dst, digits[(v>>(4*uint(i)))&0xf])
	}
	return dst
}

func appendAddr6(dst []byte, b []byte) []byte {
	return netip.AddrFrom16([16]byte(b[:16])).AppendTo(dst)
}

func appendMAC(dst []byte, b []byte) []byte {
	for i := 0; i < 6; i++ {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = appendHex(dst, uint64(b[i]), 2)
	}
	return dst
}

// appendARP prints an ARP packet for IPv4 over Ethernet (RFC 826) as print-arp.c does.
func appendARP(dst []byte, b []byte) []byte {
	dst = append(dst, "ARP, "...)
	a := header.ARP(b)
	if len(b) < 28 || a.HardwareType() != 1 || a.ProtocolType() != header.EtherTypeIPv4 || a.HardwareLen() != 6 || a.ProtocolLen() != 4 {
		return append(dst, "[|arp]"...)
	}
	sha, spa, tha, tpa := a.SenderHW(), a.SenderProto(), a.TargetHW(), a.TargetProto()
	switch op := a.Op(); op {
	case header.ARPRequest:
		dst = append(dst, "Request who-has "...)
		dst = appendAddr4(dst, tpa)
		if !isZero(tha) {
			dst = append(dst, " ("...)
			dst = appendMAC(dst, tha)
			dst = append(dst, ')')
		}
		dst = append(dst, " tell "...)
		dst = appendAddr4(dst, spa)
	case header.ARPReply:
		dst = append(dst, "Reply "...)
		dst = appendAddr4(dst, spa)
		dst = append(dst, " is-at "...)
		dst = appendMAC(dst, sha)
	default:
		dst = append(dst, "Unknown opcode "...)
		dst = appendUint(dst, uint64(op))
	}
	return appendLength(dst, len(b))
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
