package header

import (
	"encoding/binary"
	"strconv"
)

// TCPFlags is a set of TCP control bits (RFC 9293 §3.1 "Control Bits", RFC 3168
// §6.1 for ECE and CWR), with each bit where the header's flags byte holds it. It is
// the one flag type of pktlab: the state machine, the filter language, the timeline
// and the summaries all use it.
type TCPFlags uint8

// The control bits.
const (
	TCPFlagFIN TCPFlags = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
)

// Has reports whether all bits of g are set in f.
func (f TCPFlags) Has(g TCPFlags) bool { return f&g == g }

// tcpdumpOrder is the order tcpdump's print-tcp.c prints the letters in, which is
// how pktlab writes a flag set (String) everywhere a user reads one.
var tcpdumpOrder = [8]struct {
	f TCPFlags
	c byte
}{{TCPFlagSYN, 'S'}, {TCPFlagFIN, 'F'}, {TCPFlagRST, 'R'}, {TCPFlagPSH, 'P'}, {TCPFlagURG, 'U'}, {TCPFlagECE, 'E'}, {TCPFlagCWR, 'W'}, {TCPFlagACK, '.'}}

// String writes the set the way tcpdump does: S F R P U E W, then '.' for ACK;
// "none" for the empty set.
func (f TCPFlags) String() string {
	if f == 0 {
		return "none"
	}
	var b [8]byte
	return string(f.AppendLetters(b[:0]))
}

// AppendLetters appends String's letters, without the "none" of the empty set.
func (f TCPFlags) AppendLetters(dst []byte) []byte {
	for _, x := range tcpdumpOrder {
		if f&x.f != 0 {
			dst = append(dst, x.c)
		}
	}
	return dst
}

// nftNames are the names nft gives the bits (nft(8) "TCP HEADER EXPRESSION"), in
// bit order, which is the order nft prints them in.
var nftNames = [8]string{"fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr"}

// NftString writes the set as nft lists it: the names of the bits in bit order,
// joined by sep ("," in a rule listing); "0x0" for the empty set.
func (f TCPFlags) NftString(sep string) string {
	if f == 0 {
		return "0x0"
	}
	s := ""
	for i, n := range nftNames {
		if f&(1<<i) != 0 {
			if s != "" {
				s += sep
			}
			s += n
		}
	}
	return s
}

// ParseNftFlag returns the bit nft names name (fin, syn, rst, psh, ack, urg, ecn,
// cwr).
func ParseNftFlag(name string) (TCPFlags, bool) {
	for i, n := range nftNames {
		if n == name {
			return 1 << i, true
		}
	}
	return 0, false
}

// TCP is a TCP header and the segment's data (RFC 9293 §3.1).
type TCP []byte

// TCPMinLen is the length of a TCP header without options.
const TCPMinLen = 20

var (
	errTCPShort  = truncated("TCP", "header shorter than 20 bytes")
	errTCPOffset = malformed("TCP", "data offset below 5")
	errTCPCut    = truncated("TCP", "data offset greater than packet length")
)

// ParseTCP returns a view of the TCP segment at the start of b, checking that the
// header, options included, is whole. The options are checked by their iterator.
func ParseTCP(b []byte) (TCP, error) {
	if len(b) < TCPMinLen {
		return nil, errTCPShort
	}
	hlen := int(b[12]>>4) * 4
	if hlen < TCPMinLen {
		return nil, errTCPOffset
	}
	if hlen > len(b) {
		return nil, errTCPCut
	}
	return TCP(b), nil
}

// SrcPort is the Source Port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[0:2]) }

// DstPort is the Destination Port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[2:4]) }

// Seq is the Sequence Number.
func (t TCP) Seq() uint32 { return binary.BigEndian.Uint32(t[4:8]) }

// Ack is the Acknowledgment Number.
func (t TCP) Ack() uint32 { return binary.BigEndian.Uint32(t[8:12]) }

// DataOffset is the header length in bytes, options included (Data Offset × 4).
func (t TCP) DataOffset() int { return int(t[12]>>4) * 4 }

// AE is the Accurate ECN bit (RFC 9768; it was the ECN nonce NS of RFC 3540): the low
// bit of the byte before the flags.
func (t TCP) AE() bool { return t[12]&1 != 0 }

// Flags is the control bits.
func (t TCP) Flags() TCPFlags { return TCPFlags(t[13]) }

// Window is the Window field, unscaled.
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[14:16]) }

// Checksum is the Checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[16:18]) }

// Urgent is the Urgent Pointer.
func (t TCP) Urgent() uint16 { return binary.BigEndian.Uint16(t[18:20]) }

// OptionBytes is the option area, between the fixed header and the data offset.
func (t TCP) OptionBytes() []byte { return t[TCPMinLen:t.DataOffset()] }

// Options returns an iterator over the options.
func (t TCP) Options() TCPOptionIterator { return TCPOptionIterator{rest: t.OptionBytes()} }

// Payload is the segment's data: what follows the header.
func (t TCP) Payload() []byte { return t[t.DataOffset():] }

// TCPOptionKind is a TCP option kind (IANA "TCP Option Kind Numbers").
type TCPOptionKind uint8

// Option kinds pktlab names.
const (
	TCPOptionEOL       TCPOptionKind = 0  // RFC 9293 §3.2
	TCPOptionNOP       TCPOptionKind = 1  // RFC 9293 §3.2
	TCPOptionMSS       TCPOptionKind = 2  // RFC 9293 §3.2
	TCPOptionWScale    TCPOptionKind = 3  // RFC 7323 §2
	TCPOptionSACKOK    TCPOptionKind = 4  // RFC 2018 §2
	TCPOptionSACK      TCPOptionKind = 5  // RFC 2018 §3
	TCPOptionTimestamp TCPOptionKind = 8  // RFC 7323 §3
	TCPOptionMD5       TCPOptionKind = 19 // RFC 2385
	TCPOptionAO        TCPOptionKind = 29 // RFC 5925
	TCPOptionMPTCP     TCPOptionKind = 30 // RFC 8684
	TCPOptionFastOpen  TCPOptionKind = 34 // RFC 7413
)

// String is tcpdump's name of the kind (print-tcp.c), "unknown-N" for the others.
func (k TCPOptionKind) String() string {
	switch k {
	case TCPOptionEOL:
		return "eol"
	case TCPOptionNOP:
		return "nop"
	case TCPOptionMSS:
		return "mss"
	case TCPOptionWScale:
		return "wscale"
	case TCPOptionSACKOK:
		return "sackOK"
	case TCPOptionSACK:
		return "sack"
	case TCPOptionTimestamp:
		return "TS"
	case TCPOptionMD5:
		return "md5"
	case TCPOptionAO:
		return "tcp-ao"
	case TCPOptionMPTCP:
		return "mptcp"
	case TCPOptionFastOpen:
		return "tfo"
	}
	return "unknown-" + strconv.Itoa(int(k))
}

// TCPOption is one option: its kind and the bytes after the kind and length bytes
// (none for EOL and NOP).
type TCPOption struct {
	Kind TCPOptionKind
	Data []byte
}

// MSS is the value of a maximum segment size option whose length is right.
func (o TCPOption) MSS() (uint16, bool) {
	if o.Kind != TCPOptionMSS || len(o.Data) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(o.Data), true
}

// WScale is the shift count of a window scale option whose length is right.
func (o TCPOption) WScale() (uint8, bool) {
	if o.Kind != TCPOptionWScale || len(o.Data) != 1 {
		return 0, false
	}
	return o.Data[0], true
}

// Timestamps are TSval and TSecr of a timestamps option whose length is right.
func (o TCPOption) Timestamps() (val, ecr uint32, ok bool) {
	if o.Kind != TCPOptionTimestamp || len(o.Data) != 8 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(o.Data), binary.BigEndian.Uint32(o.Data[4:]), true
}

// SACKBlocks is the number of left/right edge pairs of a SACK option (RFC 2018 §3);
// SACKBlock returns one.
func (o TCPOption) SACKBlocks() int {
	if o.Kind != TCPOptionSACK {
		return 0
	}
	return len(o.Data) / 8
}

// SACKBlock returns block i of a SACK option: its left and right edges.
func (o TCPOption) SACKBlock(i int) (left, right uint32) {
	return binary.BigEndian.Uint32(o.Data[8*i:]), binary.BigEndian.Uint32(o.Data[8*i+4:])
}

// TCPOptionIterator walks an option list (RFC 9293 §3.2): EOL ends it, NOP is one
// byte, every other option has a length of at least 2 that stays inside the header.
type TCPOptionIterator struct {
	rest []byte
	cur  TCPOption
	err  error
	pad  []byte
}

var errTCPOption = malformed("TCP", "option runs past the header")

// Next advances to the next option and reports whether there is one. The EOL that
// ends a list is returned as an option; the padding after it is not.
func (it *TCPOptionIterator) Next() bool {
	b := it.rest
	if len(b) == 0 || it.err != nil {
		return false
	}
	switch k := TCPOptionKind(b[0]); k {
	case TCPOptionEOL:
		it.cur, it.rest, it.pad = TCPOption{Kind: k}, nil, b[1:]
		return true
	case TCPOptionNOP:
		it.cur, it.rest = TCPOption{Kind: k}, b[1:]
		return true
	}
	if len(b) < 2 || b[1] < 2 || int(b[1]) > len(b) {
		it.cur, it.err = TCPOption{Kind: TCPOptionKind(b[0])}, errTCPOption
		return false
	}
	it.cur, it.rest = TCPOption{Kind: TCPOptionKind(b[0]), Data: b[2:b[1]:b[1]]}, b[b[1]:]
	return true
}

// Option is the option Next moved to; after a fault, the kind of the option at
// fault, without data.
func (it *TCPOptionIterator) Option() TCPOption { return it.cur }

// Err is the fault that stopped the walk: an option whose length is below 2 or runs
// past the header (ErrMalformed).
func (it *TCPOptionIterator) Err() error { return it.err }

// CheckOptions walks the option list as the iterator does, without making the
// options, and returns the kind of the first option whose length is below 2 or runs
// past the header, with ok false.
func (t TCP) CheckOptions() (bad TCPOptionKind, ok bool) {
	if t.OptionLayout() != TCPOptionsOther {
		return 0, true // well formed by its layout
	}
	for b := t.OptionBytes(); len(b) > 0; {
		switch b[0] {
		case byte(TCPOptionEOL):
			return 0, true
		case byte(TCPOptionNOP):
			b = b[1:]
			continue
		}
		if len(b) < 2 || b[1] < 2 || int(b[1]) > len(b) {
			return TCPOptionKind(b[0]), false
		}
		b = b[b[1]:]
	}
	return 0, true
}

// TCPOptionLayout names the option lists Linux writes on most segments
// (tcp_options_write in net/ipv4/tcp_output.c, with the default sysctls: timestamps
// and SACK on), each option with the length its kind has, so that a reader can take
// their fields at fixed offsets instead of walking the list.
type TCPOptionLayout uint8

// The layouts OptionLayout tells apart.
const (
	// TCPOptionsOther is any other list (or none): walk it.
	TCPOptionsOther TCPOptionLayout = iota
	// TCPOptionsLinuxData is NOP, NOP, timestamps (TS val at option byte 4, TS ecr
	// at 8): every segment after the handshake.
	TCPOptionsLinuxData
	// TCPOptionsLinuxSYN is MSS (its value at 2), SACK permitted, timestamps (at 8
	// and 12), NOP, window scale (its shift at 19): every SYN and SYN-ACK.
	TCPOptionsLinuxSYN
)

func (l TCPOptionLayout) String() string {
	switch l {
	case TCPOptionsOther:
		return "other"
	case TCPOptionsLinuxData:
		return "linux-data"
	case TCPOptionsLinuxSYN:
		return "linux-syn"
	}
	return "TCPOptionLayout(" + strconv.Itoa(int(l)) + ")"
}

// OptionLayout is the layout of the option list, when it is one of Linux's.
func (t TCP) OptionLayout() TCPOptionLayout { return OptionLayoutOf(t.OptionBytes()) }

// OptionLayoutOf is OptionLayout of an option list b (TCP.OptionBytes), for a
// reader that holds it already.
func OptionLayoutOf(b []byte) TCPOptionLayout {
	switch {
	case len(b) == 12 && binary.LittleEndian.Uint32(b) == 0x0a080101:
		return TCPOptionsLinuxData
	case len(b) == 20 && binary.LittleEndian.Uint16(b) == 0x0402 && binary.LittleEndian.Uint32(b[4:]) == 0x0a080204 &&
		binary.LittleEndian.Uint16(b[16:]) == 0x0301 && b[18] == 3:
		return TCPOptionsLinuxSYN
	}
	return TCPOptionsOther
}

// Padding is, once Next stopped at EOL, the bytes after it in the option area.
func (it *TCPOptionIterator) Padding() []byte { return it.pad }
