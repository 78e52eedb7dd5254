package rawsock

import (
	"github.com/gopacket/gopacket/layers"
)

// tcpScratch is what decodeTCP keeps between frames.
type tcpScratch struct {
	// fixed holds a copy of the fixed 20-byte header with data offset 5, for gopacket
	// to decode without the options.
	fixed [20]byte
	// dirty is set when gopacket decoded options into TCP.Options: its entries may
	// then hold MPTCP fields that the fast option decoder does not write.
	dirty bool
	// check asks Decode to walk the options with checkTCPOptions: they were not
	// decoded here, so nobody has checked them yet.
	check bool
}

// decodeTCP decodes a TCP header (RFC 9293 §3.1) into d.TCP, with the same result as
// d.TCP.DecodeFromBytes(data). gopacket appends each option to TCP.Options as a
// 112-byte TCPOption built on the stack and copied in (≈ 10 ns per option: half the
// decoding time of a SYN with Linux's five options), so for a header with options
// gopacket decodes the fixed header from a copy whose data offset says 5 (no options),
// and decodeTCPOptions fills TCP.Options in place. Headers without options, and option
// lists decodeTCPOptions leaves to gopacket (MPTCP, or a length that runs past the
// header), go to gopacket whole; TestDecodeMatchesParser and FuzzDecodeMatchesParser
// check that both ways agree.
func (d *Decoder) decodeTCP(data []byte) error {
	t, s := &d.TCP, &d.tcp
	if len(data) < 20 || data[12]>>4 <= 5 || int(data[12]>>4)*4 > len(data) {
		s.check = true
		return d.gopacketTCP(data)
	}
	hlen := int(data[12]>>4) * 4
	copy(s.fixed[:], data[:20])
	s.fixed[12] = 5<<4 | data[12]&0x0f
	if err := t.DecodeFromBytes(s.fixed[:], &d.fb); err != nil {
		return err // cannot happen: 20 bytes with data offset 5 always decode
	}
	t.DataOffset = data[12] >> 4
	t.Contents, t.Payload = data[:hlen], data[hlen:]
	if !d.decodeTCPOptions(data[20:hlen]) {
		s.check = true
		return d.gopacketTCP(data)
	}
	return nil
}

// gopacketTCP lets gopacket decode the whole header.
func (d *Decoder) gopacketTCP(data []byte) error {
	d.tcp.dirty = true
	return d.TCP.DecodeFromBytes(data, &d.fb)
}

// decodeTCPOptions fills d.TCP.Options and d.TCP.Padding from the option area b as
// gopacket's TCP decoder does, writing each entry in place. It returns false, having
// decoded nothing for sure, for what it leaves to gopacket: an MPTCP option (kind 30,
// RFC 8684), which gopacket decodes into MPTCP fields, and an option whose length is
// below 2 or runs past the header, which gopacket drops along with the rest of the
// list.
func (d *Decoder) decodeTCPOptions(b []byte) bool {
	t := &d.TCP
	opts := t.Options[:0]
	if d.tcp.dirty {
		clear(opts[:cap(opts)]) // entries gopacket filled may hold MPTCP fields
		d.tcp.dirty = false
	}
	for len(b) > 0 {
		kind := b[0]
		var o *layers.TCPOption
		if n := len(opts); n < cap(opts) {
			opts = opts[:n+1]
			o = &opts[n]
		} else {
			opts = append(opts, layers.TCPOption{})
			o = &opts[n]
		}
		o.OptionType = layers.TCPOptionKind(kind)
		switch kind {
		case layers.TCPOptionKindEndList:
			o.OptionLength, o.OptionData = 1, nil
			t.Padding = b[1:]
			t.Options = opts
			return true
		case layers.TCPOptionKindNop:
			o.OptionLength, o.OptionData = 1, nil
			b = b[1:]
			continue
		case layers.TCPOptionKindMultipathTCP:
			t.Options = opts[:0]
			return false
		}
		if len(b) < 2 || b[1] < 2 || int(b[1]) > len(b) {
			t.Options = opts[:0]
			return false
		}
		l := b[1]
		o.OptionLength, o.OptionData = l, b[2:l]
		b = b[l:]
	}
	t.Options = opts
	return true
}
