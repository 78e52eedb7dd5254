package host

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/tcpstate/seqnum"
)

// serializer lays frames out with gopacket into one reused buffer.
type serializer struct {
	buf  gopacket.SerializeBuffer
	eth  layers.Ethernet
	ip4  layers.IPv4
	ip6  layers.IPv6
	tcp  layers.TCP
	opts []layers.TCPOption
	sack [2 + 8*tcpstate.MaxSACKBlocks]byte
	ts   [8]byte
	mss  [2]byte
	ws   [1]byte
	src  [16]byte
	dst  [16]byte
	pay  gopacket.Payload
}

// addrBytes puts a into buf without allocating: 4 bytes for IPv4, 16 for IPv6.
func addrBytes(buf *[16]byte, a netip.Addr) []byte {
	*buf = a.As16()
	if a.Is4() {
		return buf[12:]
	}
	return buf[:]
}

func newSerializer() *serializer { return &serializer{buf: gopacket.NewSerializeBuffer()} }

var serOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// tcpFrame builds Ethernet + IP + TCP for seg from local to remote. The returned
// bytes live until the next call.
func (s *serializer) tcpFrame(src, dst net.HardwareAddr, local, remote netip.AddrPort, seg *tcpstate.Segment) ([]byte, error) {
	s.eth = layers.Ethernet{SrcMAC: src, DstMAC: dst}
	s.tcp = layers.TCP{
		SrcPort: layers.TCPPort(local.Port()), DstPort: layers.TCPPort(remote.Port()),
		Seq: uint32(seg.Seq), Ack: uint32(seg.Ack), Window: seg.Window,
		FIN: seg.Flags&header.TCPFlagFIN != 0, SYN: seg.Flags&header.TCPFlagSYN != 0,
		RST: seg.Flags&header.TCPFlagRST != 0, PSH: seg.Flags&header.TCPFlagPSH != 0,
		ACK: seg.Flags&header.TCPFlagACK != 0, URG: seg.Flags&header.TCPFlagURG != 0,
		ECE: seg.Flags&header.TCPFlagECE != 0, CWR: seg.Flags&header.TCPFlagCWR != 0,
	}
	s.tcp.Options = s.tcpOptions(&seg.Options, seg.Flags&header.TCPFlagSYN != 0)
	var nl gopacket.SerializableLayer
	if local.Addr().Is4() {
		s.eth.EthernetType = layers.EthernetTypeIPv4
		s.ip4 = layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
			SrcIP: addrBytes(&s.src, local.Addr()), DstIP: addrBytes(&s.dst, remote.Addr())}
		s.tcp.SetNetworkLayerForChecksum(&s.ip4)
		nl = &s.ip4
	} else {
		s.eth.EthernetType = layers.EthernetTypeIPv6
		s.ip6 = layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: addrBytes(&s.src, local.Addr()), DstIP: addrBytes(&s.dst, remote.Addr())}
		s.tcp.SetNetworkLayerForChecksum(&s.ip6)
		nl = &s.ip6
	}
	s.pay = seg.Payload
	err := gopacket.SerializeLayers(s.buf, serOpts, &s.eth, nl, &s.tcp, &s.pay)
	return s.buf.Bytes(), err
}

// withRoom returns the last frame with n bytes of room prepended.
func (s *serializer) withRoom(n int) []byte {
	s.buf.PrependBytes(n)
	return s.buf.Bytes()
}

// tcpOptions lays options out as Linux does: in a SYN mss, sackOK+TS (or NOP NOP
// TS, or NOP NOP sackOK), NOP wscale; later NOP NOP TS and NOP NOP SACK
// (net/ipv4/tcp_output.c tcp_options_write). syn is kept for callers; the layout
// no longer depends on it.
func (s *serializer) tcpOptions(o *tcpstate.Options, syn bool) []layers.TCPOption {
	opts := s.opts[:0]
	nop := layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1}
	if o.MSS != 0 {
		binary.BigEndian.PutUint16(s.mss[:], o.MSS)
		opts = append(opts, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: s.mss[:]})
	}
	sackOK := layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2}
	switch {
	case o.SACKPermitted && o.HasTS:
		opts = append(opts, sackOK)
	case o.HasTS:
		opts = append(opts, nop, nop)
	case o.SACKPermitted:
		// Without timestamps Linux pads before SACK-permitted, not after
		// (tcp_options_write: NOP NOP SACK_PERM), as pktlab drill's scripts show.
		opts = append(opts, nop, nop, sackOK)
	}
	if o.HasTS {
		binary.BigEndian.PutUint32(s.ts[:4], o.TSVal)
		binary.BigEndian.PutUint32(s.ts[4:], o.TSEcr)
		opts = append(opts, layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: s.ts[:]})
	}
	if o.HasWScale {
		s.ws[0] = o.WScale
		opts = append(opts, nop, layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: s.ws[:]})
	}
	if o.NumSACK > 0 {
		d := s.sack[:8*o.NumSACK]
		for i, b := range o.Blocks() {
			binary.BigEndian.PutUint32(d[8*i:], uint32(b.Left))
			binary.BigEndian.PutUint32(d[8*i+4:], uint32(b.Right))
		}
		opts = append(opts, nop, nop, layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + len(d)), OptionData: d})
	}
	s.opts = opts
	return opts
}

// segmentOf converts a TCP header view into the machine's Segment. Payload
// aliases the frame. Options whose length is wrong for their kind are ignored, and
// the walk stops at an option that runs past the header (rawsock.Decoder rejects
// such a header before it gets here).
func segmentOf(t header.TCP) tcpstate.Segment {
	seg := tcpstate.Segment{Seq: seqnum.Value(t.Seq()), Ack: seqnum.Value(t.Ack()), Flags: t.Flags(), Window: t.Window(), Payload: t.Payload()}
	o := &seg.Options
	for it := t.Options(); it.Next(); {
		opt := it.Option()
		switch opt.Kind {
		case header.TCPOptionMSS:
			if v, ok := opt.MSS(); ok {
				o.MSS = v
			}
		case header.TCPOptionWScale:
			if v, ok := opt.WScale(); ok {
				o.WScale, o.HasWScale = v, true
			}
		case header.TCPOptionSACKOK:
			o.SACKPermitted = true
		case header.TCPOptionTimestamp:
			if val, ecr, ok := opt.Timestamps(); ok {
				o.TSVal, o.TSEcr, o.HasTS = val, ecr, true
			}
		case header.TCPOptionSACK:
			for i := 0; i < opt.SACKBlocks() && o.NumSACK < tcpstate.MaxSACKBlocks; i++ {
				l, r := opt.SACKBlock(i)
				o.SACK[o.NumSACK] = tcpstate.SACKBlock{Left: seqnum.Value(l), Right: seqnum.Value(r)}
				o.NumSACK++
			}
		}
	}
	return seg
}
