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
// TS), NOP wscale; later NOP NOP TS and NOP NOP SACK (net/ipv4/tcp_output.c
// tcp_options_write).
func (s *serializer) tcpOptions(o *tcpstate.Options, syn bool) []layers.TCPOption {
	opts := s.opts[:0]
	nop := layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1}
	if o.MSS != 0 {
		binary.BigEndian.PutUint16(s.mss[:], o.MSS)
		opts = append(opts, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: s.mss[:]})
	}
	if o.SACKPermitted {
		opts = append(opts, layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
	} else if o.HasTS {
		opts = append(opts, nop, nop)
	}
	if o.HasTS {
		binary.BigEndian.PutUint32(s.ts[:4], o.TSVal)
		binary.BigEndian.PutUint32(s.ts[4:], o.TSEcr)
		opts = append(opts, layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: s.ts[:]})
	} else if o.SACKPermitted && syn {
		opts = append(opts, nop, nop)
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

// segmentOf converts a decoded TCP header into the machine's Segment. Payload
// aliases the frame.
func segmentOf(t *layers.TCP) tcpstate.Segment {
	seg := tcpstate.Segment{Seq: seqnum.Value(t.Seq), Ack: seqnum.Value(t.Ack), Window: t.Window, Payload: t.Payload}
	for _, f := range []struct {
		on bool
		f  header.TCPFlags
	}{{t.FIN, header.TCPFlagFIN}, {t.SYN, header.TCPFlagSYN}, {t.RST, header.TCPFlagRST}, {t.PSH, header.TCPFlagPSH},
		{t.ACK, header.TCPFlagACK}, {t.URG, header.TCPFlagURG}, {t.ECE, header.TCPFlagECE}, {t.CWR, header.TCPFlagCWR}} {
		if f.on {
			seg.Flags |= f.f
		}
	}
	o := &seg.Options
	for _, opt := range t.Options {
		d := opt.OptionData
		switch opt.OptionType {
		case layers.TCPOptionKindMSS:
			if len(d) == 2 {
				o.MSS = binary.BigEndian.Uint16(d)
			}
		case layers.TCPOptionKindWindowScale:
			if len(d) == 1 {
				o.WScale, o.HasWScale = d[0], true
			}
		case layers.TCPOptionKindSACKPermitted:
			o.SACKPermitted = true
		case layers.TCPOptionKindTimestamps:
			if len(d) == 8 {
				o.TSVal, o.TSEcr, o.HasTS = binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:]), true
			}
		case layers.TCPOptionKindSACK:
			for i := 0; i+8 <= len(d) && o.NumSACK < tcpstate.MaxSACKBlocks; i += 8 {
				o.SACK[o.NumSACK] = tcpstate.SACKBlock{Left: seqnum.Value(binary.BigEndian.Uint32(d[i:])), Right: seqnum.Value(binary.BigEndian.Uint32(d[i+4:]))}
				o.NumSACK++
			}
		}
	}
	return seg
}
