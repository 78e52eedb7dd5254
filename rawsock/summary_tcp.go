package rawsock

import (
	"bytes"
	"encoding/binary"

	"github.com/pktlab/pktlab/rawsock/header"
)

// TCP header flags (RFC 9293 §3.1, RFC 3168 §6.1), in the order tcpdump's
// print-tcp.c prints them in a summary line (which is not the order of
// header.TCPFlags.String).
var tcpFlagLetters = [...]struct {
	bit    header.TCPFlags
	letter byte
}{{header.TCPFlagFIN, 'F'}, {header.TCPFlagSYN, 'S'}, {header.TCPFlagRST, 'R'}, {header.TCPFlagPSH, 'P'},
	{header.TCPFlagACK, '.'}, {header.TCPFlagURG, 'U'}, {header.TCPFlagECE, 'E'}, {header.TCPFlagCWR, 'W'}}

const (
	tcpFIN = header.TCPFlagFIN
	tcpSYN = header.TCPFlagSYN
	tcpRST = header.TCPFlagRST
	tcpACK = header.TCPFlagACK
	tcpURG = header.TCPFlagURG
)

// appendTCP prints a TCP segment (RFC 9293 §3.1) like print-tcp.c: flags, relative
// sequence numbers, window, urgent pointer, options and payload length. c.tcp is
// the decoded header, when there is one: its length was checked.
func (s *Summarizer) appendTCP(dst []byte, c *ipCtx, b []byte, length int) []byte {
	t := c.tcp
	if t == nil {
		if len(b) < 4 {
			if c.direct {
				dst = c.appendAddrs(dst)
			}
			return append(dst, " [|tcp]"...)
		}
		t = header.TCP(b) // as far as its length is checked below
	}
	sport, dport := t.SrcPort(), t.DstPort()
	dst = c.appendPorts(dst, sport, dport)
	if len(b) < header.TCPMinLen {
		return append(dst, "[|tcp]"...)
	}
	hlen := t.DataOffset()
	if hlen < 20 {
		dst = append(dst, " tcp "...)
		dst = appendUint(dst, uint64(uint32(length-hlen)))
		dst = append(dst, " [bad hdr length "...)
		dst = appendUint(dst, uint64(hlen))
		return append(dst, " - too short, < 20]"...)
	}
	return s.appendTCPFields(dst, c, t, len(b) >= hlen, length)
}

// appendTCPFields is appendTCP after the ports, for a header t of 20 bytes or more
// (whole: its options too) of a segment of length bytes according to the IP header.
func (s *Summarizer) appendTCPFields(dst []byte, c *ipCtx, t header.TCP, whole bool, length int) []byte {
	hlen := t.DataOffset()
	seq, ack := t.Seq(), t.Ack()
	flags := t.Flags()
	var base seqBase
	rev := false
	if !s.Absolute && flags&tcpACK != 0 {
		seq, ack, base, rev = s.relative(c, t.SrcPort(), t.DstPort(), seq, ack, flags)
	}
	if hlen > length {
		dst = appendFlags(dst, flags)
		dst = append(dst, " [bad hdr length "...)
		dst = appendUint(dst, uint64(hlen))
		dst = append(dst, " - too long, > "...)
		dst = appendUint(dst, uint64(length))
		return append(dst, ']')
	}
	length -= hlen
	var done bool
	if dst, done = appendSegment(dst, t, flags, seq, ack, length, whole); done {
		return dst
	}
	if !whole {
		return append(dst, ", options [|tcp]"...)
	}
	var ok bool
	if dst, ok = appendTCPOptions(append(dst, ", options ["...), t.OptionBytes(), base, rev); !ok {
		return dst
	}
	return appendLength(dst, length)
}

// segmentTextMax bounds what appendSegment writes: the flags (16 bytes), ", seq "
// and two numbers of 10 digits (27), ", ack " and one (16), ", win " and ", urg "
// with 5 digits each (22); Linux's options: ", options [mss " and 5 digits,
// ",sackOK,TS val " and 10, " ecr " and 10, ",nop,wscale " and 3, "]" (76);
// ", length " and 5 digits (14); and the 10 bytes the last number may write past
// its end.
const segmentTextMax = 16 + 27 + 16 + 22 + 76 + 14 + 10

// appendSegment appends the flags, sequence and acknowledgement numbers, window and
// urgent pointer of segment t with length bytes of data, as print-tcp.c prints them,
// through one window of segmentTextMax bytes: one check of dst's room for the lot.
// When t has no options, or one of Linux's lists (header.TCP.OptionLayout) and its
// header is whole, it goes on to the options, their fields read at fixed offsets
// (the text appendTCPOptions writes for them), and the length: the line is done.
func appendSegment(dst []byte, t header.TCP, flags header.TCPFlags, seq, ack uint32, length int, whole bool) (_ []byte, done bool) {
	l := len(dst)
	dst = room(dst, segmentTextMax)
	w := dst[l : l+segmentTextMax]
	f := &flagText[flags]
	*(*[16]byte)(w[:16]) = f.b
	i := int(f.n)
	if length > 0 || flags&(tcpSYN|tcpFIN|tcpRST) != 0 {
		i = putUint(w, put(w, i, ", seq "), seq)
		if length > 0 {
			w[i] = ':'
			i = putUint(w, i+1, seq+uint32(length))
		}
	}
	if flags&tcpACK != 0 {
		i = putUint(w, put(w, i, ", ack "), ack)
	}
	i = putUint(w, put(w, i, ", win "), uint32(t.Window()))
	if flags&tcpURG != 0 {
		i = putUint(w, put(w, i, ", urg "), uint32(t.Urgent()))
	}
	if t.DataOffset() > header.TCPMinLen {
		if !whole {
			return dst[:l+i], false
		}
		o := t.OptionBytes()
		switch header.OptionLayoutOf(o) {
		case header.TCPOptionsOther:
			return dst[:l+i], false
		case header.TCPOptionsLinuxSYN:
			i = putUint(w, put(w, i, ", options [mss "), uint32(binary.BigEndian.Uint16(o[2:])))
			i = putUint(w, put(w, i, ",sackOK,TS val "), binary.BigEndian.Uint32(o[8:]))
			i = putUint(w, put(w, i, " ecr "), binary.BigEndian.Uint32(o[12:]))
			i = putUint(w, put(w, i, ",nop,wscale "), uint32(o[19]))
		default:
			i = putUint(w, put(w, i, ", options [nop,nop,TS val "), binary.BigEndian.Uint32(o[4:]))
			i = putUint(w, put(w, i, " ecr "), binary.BigEndian.Uint32(o[8:]))
		}
		w[i] = ']'
		i++
	}
	return dst[:l+putUint(w, put(w, i, ", length "), uint32(length))], true
}

// relative turns seq and ack into numbers relative to the connection's first
// segment with ACK, as tcpdump does by default: that segment (and any SYN with ACK,
// which starts the connection again) records the base and prints absolute numbers.
func (s *Summarizer) relative(c *ipCtx, sport, dport uint16, seq, ack uint32, flags header.TCPFlags) (uint32, uint32, seqBase, bool) {
	rev := sport > dport || (sport == dport && bytes.Compare(c.src, c.dst) > 0)
	a, b, ports := c.src, c.dst, uint32(sport)<<16|uint32(dport)
	if rev {
		a, b, ports = c.dst, c.src, uint32(dport)<<16|uint32(sport)
	}
	// IPv4 and IPv6 connections live in maps of their own, so that the IPv4 key is
	// short and no IPv4 key equals an IPv6 one.
	var base seqBase
	if c.v6 {
		k := flowKey{src: [16]byte(a), dst: [16]byte(b), ports: ports}
		var found bool
		if base, found = s.flows[k]; !found || flags&tcpSYN != 0 {
			base = newSeqBase(rev, seq, ack)
			s.flows[k] = base
			return seq, ack, base, rev
		}
	} else {
		k4 := flowKey4{src: [4]byte(a), dst: [4]byte(b), ports: ports}
		found := s.last4.ok && s.last4.key == k4
		if found {
			base = s.last4.base
		} else if base, found = s.flows4[k4]; found {
			s.setLast4(k4, base)
		}
		if !found || flags&tcpSYN != 0 {
			base = newSeqBase(rev, seq, ack)
			s.flows4[k4] = base
			s.setLast4(k4, base)
			return seq, ack, base, rev
		}
	}
	if rev {
		return seq - base.ack, ack - base.seq, base, rev
	}
	return seq - base.seq, ack - base.ack, base, rev
}

// newSeqBase is the base a connection's first segment with ACK records: its own
// numbers, seq for the side it comes from (the canonical second side when rev).
func newSeqBase(rev bool, seq, ack uint32) seqBase {
	if rev {
		return seqBase{seq: ack - 1, ack: seq}
	}
	return seqBase{seq: seq, ack: ack - 1}
}

// setLast4 keeps k and its base aside as the IPv4 connection met last. Field by
// field: a composite literal is built in a temporary and copied with 16-byte moves
// that stall on the narrower stores just made (store forwarding).
func (s *Summarizer) setLast4(k flowKey4, base seqBase) {
	s.last4.key, s.last4.base, s.last4.ok = k, base, true
}

// TCP option kinds tcpdump names (IANA TCP parameters).
const (
	optEOL       = 0
	optNOP       = 1
	optMSS       = 2
	optWScale    = 3
	optSACKOK    = 4
	optSACK      = 5
	optTimestamp = 8
)

// appendTCPOptions prints the option list the way print-tcp.c walks it: a known kind
// consumes its fixed data length whatever its length byte says (a mismatch prints
// "[len N]"), and a length running past the header prints "[bad opt]" and ends the
// summary (ok false).
func appendTCPOptions(dst []byte, opts []byte, base seqBase, rev bool) ([]byte, bool) {
	return walkTCPOptions(dst, opts, true, base, rev, true)
}

// walkTCPOptions is appendTCPOptions from an option that is the list's first or
// not; with fast false it prints every option through appendOption, so that a test
// can hold the shortcut for well-formed options to it.
func walkTCPOptions(dst []byte, opts []byte, first bool, base seqBase, rev bool, fast bool) ([]byte, bool) {
	for ; len(opts) > 0; first = false {
		if fast {
			var n int
			if dst, n = appendKnownOptions(dst, opts, first); n > 0 {
				opts = opts[n:]
				continue
			}
		}
		if !first {
			dst = append(dst, ',')
		}
		var ok, end bool
		if dst, opts, ok, end = appendOption(dst, opts, first, base, rev); !ok {
			return dst, false
		}
		if end {
			break
		}
	}
	return append(dst, ']'), true
}

// appendKnownOptions appends the options at the start of opts that every Linux
// segment carries, each with the length its kind has (NOP, MSS, window scale, SACK
// permitted, timestamps), as appendOption prints them, and returns how many bytes of
// opts it printed: 0 when the first option is of another kind. It writes through one
// window: no option takes more than 4 bytes of text per byte (",nop"; ",TS val
// 4294967295 ecr 4294967295" for 10), and a number may write 10 bytes.
func appendKnownOptions(dst []byte, opts []byte, first bool) ([]byte, int) {
	l := len(dst)
	dst = room(dst, 4*len(opts)+10)
	w := dst[l:cap(dst)]
	i, n := 0, 0
	for n < len(opts) {
		o := opts[n:]
		j := i
		if !first {
			w[j] = ','
			j++
		}
		switch k := o[0]; {
		case k == optNOP:
			j, n = put(w, j, "nop"), n+1
		case k == optTimestamp && len(o) >= 10 && o[1] == 10:
			j = putUint(w, put(w, j, "TS val "), binary.BigEndian.Uint32(o[2:]))
			j = putUint(w, put(w, j, " ecr "), binary.BigEndian.Uint32(o[6:]))
			n += 10
		case k == optMSS && len(o) >= 4 && o[1] == 4:
			j, n = putUint(w, put(w, j, "mss "), uint32(binary.BigEndian.Uint16(o[2:]))), n+4
		case k == optSACKOK && len(o) >= 2 && o[1] == 2:
			j, n = put(w, j, "sackOK"), n+2
		case k == optWScale && len(o) >= 3 && o[1] == 3:
			j, n = putUint(w, put(w, j, "wscale "), uint32(o[2])), n+3
		default:
			return dst[:l+i], n
		}
		i, first = j, false
	}
	return dst[:l+i], n
}

// appendOption prints the option at the start of opts and returns the bytes after
// it; ok is false after "[bad opt]", end true after EOL.
func appendOption(dst []byte, opts []byte, first bool, base seqBase, rev bool) (_, rest []byte, ok, end bool) {
	bad := func(dst []byte) ([]byte, []byte, bool, bool) {
		dst = append(dst, "[bad opt]"...)
		if !first {
			dst = append(dst, ']')
		}
		return dst, nil, false, true
	}
	kind := opts[0]
	opts = opts[1:]
	l := 1
	if kind != optEOL && kind != optNOP {
		if len(opts) < 1 || opts[0] < 2 || int(opts[0]) > len(opts)+1 {
			return bad(dst)
		}
		l = int(opts[0])
		opts = opts[1:]
	}
	datalen := 0
	switch kind {
	case optMSS:
		datalen = 2
	case optWScale:
		datalen = 1
	case optTimestamp:
		datalen = 8
	case optEOL, optNOP, optSACKOK:
	default:
		datalen = l - 2
	}
	dst = appendOptionName(dst, kind)
	if kind != optSACK && datalen > len(opts) {
		return bad(dst)
	}
	data := opts[:min(datalen, len(opts))]
	switch kind {
	case optMSS:
		dst = append(dst, ' ')
		dst = appendUint(dst, uint64(binary.BigEndian.Uint16(data)))
	case optWScale:
		dst = append(dst, ' ')
		dst = appendUint(dst, uint64(data[0]))
	case optTimestamp:
		dst = append(dst, " val "...)
		dst = appendUint(dst, uint64(binary.BigEndian.Uint32(data)))
		dst = append(dst, " ecr "...)
		dst = appendUint(dst, uint64(binary.BigEndian.Uint32(data[4:])))
	case optSACK:
		if datalen%8 == 0 && datalen > len(opts) {
			return bad(dst)
		}
		dst = appendSACK(dst, data, base, rev)
	case optEOL, optNOP, optSACKOK:
	default:
		if len(data) > 0 {
			dst = append(dst, " 0x"...)
			for _, c := range data {
				dst = appendHex(dst, uint64(c), 2)
			}
		}
	}
	opts = opts[min(datalen, len(opts)):]
	if used := datalen + min(l, 2); used != l {
		dst = append(dst, "[len "...)
		dst = appendUint(dst, uint64(l))
		dst = append(dst, ']')
	}
	return dst, opts, true, kind == optEOL
}

// appendOptionName appends tcpdump's name for an option kind.
func appendOptionName(dst []byte, kind byte) []byte {
	switch kind {
	case optEOL:
		return append(dst, "eol"...)
	case optNOP:
		return append(dst, "nop"...)
	case optMSS:
		return append(dst, "mss"...)
	case optWScale:
		return append(dst, "wscale"...)
	case optSACKOK:
		return append(dst, "sackOK"...)
	case optSACK:
		return append(dst, "sack"...)
	case optTimestamp:
		return append(dst, "TS"...)
	}
	dst = append(dst, "unknown-"...)
	return appendUint(dst, uint64(kind))
}

// appendSACK prints SACK blocks (RFC 2018 §3) relative to the connection's base.
func appendSACK(dst []byte, data []byte, base seqBase, rev bool) []byte {
	if len(data)%8 != 0 {
		return append(dst, " invalid sack"...)
	}
	dst = append(dst, ' ')
	dst = appendUint(dst, uint64(len(data)/8))
	dst = append(dst, ' ')
	off := base.ack
	if rev {
		off = base.seq
	}
	for i := 0; i+8 <= len(data); i += 8 {
		dst = append(dst, '{')
		dst = appendUint(dst, uint64(binary.BigEndian.Uint32(data[i:])-off))
		dst = append(dst, ':')
		dst = appendUint(dst, uint64(binary.BigEndian.Uint32(data[i+4:])-off))
		dst = append(dst, '}')
	}
	return dst
}
