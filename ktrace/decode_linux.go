package ktrace

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
)

// decode turns one ring record into its typed event. wall converts the record's
// kernel time to CLOCK_REALTIME.
func (l *kernelLayout) decode(rec []byte, wall func(uint64) time.Time) (Event, error) {
	if len(rec) < recSize {
		return nil, fmt.Errorf("ktrace: record of %d bytes, want %d", len(rec), recSize)
	}
	ne := binary.NativeEndian
	h := Header{
		Time:  wall(ne.Uint64(rec[recTime:])),
		NetNS: NetNS(ne.Uint32(rec[recNetNS:])),
		Sock:  ne.Uint64(rec[recSK:]),
	}
	arg1, arg2 := ne.Uint64(rec[recArg1:]), ne.Uint64(rec[recArg2:])
	var tuple Tuple
	var state State
	if rec[recHaveSock] == 1 {
		tuple, state = l.sockTuple(rec[recSock : recSock+recSockLen])
		if rec[recHaveSport] == 1 && tuple.Local.IsValid() {
			// A full socket's source port as the tracepoints print it: skc_num is
			// cleared when the port is released on the way to CLOSE, inet_sport not.
			tuple.Local = netip.AddrPortFrom(tuple.Local.Addr(), binary.BigEndian.Uint16(rec[recSport:]))
		}
	}
	var pkt *Packet
	if rec[recHaveHdr] == 1 {
		pkt = parsePacket(rec[recHdr:recHdr+recHdrLen], binary.BigEndian.Uint16(rec[recSkbProto:]))
	}
	switch kind := rec[recKind]; kind {
	case kindState:
		return &StateChange{Header: h, Tuple: tuple, Old: State(int32(arg1)), New: State(int32(arg2)), Protocol: ne.Uint16(rec[recSkProto:])}, nil
	case kindRetransmit:
		return &Retransmit{Header: h, Tuple: tuple, State: state,
			Seq: ne.Uint32(rec[recCBSeq:]), EndSeq: ne.Uint32(rec[recCBEndSeq:]),
			Flags: header.TCPFlags(ne.Uint16(rec[recCBFlags:])), CA: l.ca(rec[recCA]), Err: int32(arg1)}, nil
	case kindSynAckRetransmit:
		return &SynAckRetransmit{Header: h, Tuple: tuple, State: state}, nil
	case kindResetSent:
		r := &Reset{Header: h, Sent: true, Tuple: tuple, State: state, Reason: name(l.reset, arg1), Packet: pkt}
		if rec[recHaveSock] == 0 && pkt != nil {
			// No socket: the segment's destination is this node's end.
			r.Local = netip.AddrPortFrom(pkt.Dst, pkt.DstPort)
			r.Remote = netip.AddrPortFrom(pkt.Src, pkt.SrcPort)
		}
		return r, nil
	case kindResetReceived:
		return &Reset{Header: h, Tuple: tuple, State: state}, nil
	case kindProbe:
		return &CongSample{Header: h, Tuple: tuple, Cong: l.cong(rec)}, nil
	case kindCongState:
		return &CongState{Header: h, Tuple: tuple, New: CAState(arg1), Cong: l.cong(rec)}, nil
	case kindDestroy:
		return &Destroy{Header: h, Tuple: tuple, State: state}, nil
	case kindDrop:
		return &Drop{Header: h, Reason: name(l.drop, arg1), ReasonCode: uint32(arg1), Location: arg2,
			Packet: pkt, SockState: state, SockTuple: tuple}, nil
	default:
		return nil, fmt.Errorf("ktrace: record of unknown kind %d", kind)
	}
}

func name(names map[uint64]string, v uint64) string {
	if n, ok := names[v]; ok {
		return n
	}
	return fmt.Sprintf("%d", v)
}

// Address families (include/linux/socket.h).
const (
	afInet  = 2
	afInet6 = 10
)

// sockTuple reads the 4-tuple and state from a copy of struct sock_common (zero for
// a socket that is not IPv4 or IPv6): the local end is skc_rcv_saddr:skc_num (host
// order), the remote skc_daddr:skc_dport (network order), as include/net/sock.h
// names them.
func (l *kernelLayout) sockTuple(sc []byte) (Tuple, State) {
	ne := binary.NativeEndian
	family := ne.Uint16(sc[l.family.off:])
	lport := ne.Uint16(sc[l.num.off:])
	rport := binary.BigEndian.Uint16(sc[l.dport.off:])
	var la, ra netip.Addr
	switch family {
	case afInet:
		la = netip.AddrFrom4([4]byte(sc[l.rcvSaddr.off:]))
		ra = netip.AddrFrom4([4]byte(sc[l.daddr.off:]))
	case afInet6:
		la = netip.AddrFrom16([16]byte(sc[l.v6RcvSaddr.off:]))
		ra = netip.AddrFrom16([16]byte(sc[l.v6Daddr.off:]))
	default:
		// Not an inet socket (kfree_skb's skb->sk may be a netlink or packet
		// socket): its sk_state is not a TCP state.
		return Tuple{}, 0
	}
	return Tuple{Local: netip.AddrPortFrom(la, lport), Remote: netip.AddrPortFrom(ra, rport)}, State(sc[l.state.off])
}

// ca extracts icsk_ca_state from the byte that holds it.
func (l *kernelLayout) ca(b byte) CAState {
	return CAState(b >> l.caState.bitShift & (1<<l.caState.bitWidth - 1))
}

func (l *kernelLayout) cong(rec []byte) Cong {
	ne := binary.NativeEndian
	f := func(i int) uint32 { return ne.Uint32(rec[recTCP+4*i:]) }
	return Cong{
		CA: l.ca(rec[recCA]), SndCwnd: f(0), Ssthresh: f(1),
		// srtt_us is the smoothed RTT in µs, shifted left by 3 (RFC 6298's 1/8 gain
		// kept as fixed point, include/linux/tcp.h).
		SRTT:   time.Duration(f(2)>>3) * time.Microsecond,
		SndWnd: f(3), RcvWnd: f(4), SndNxt: f(5), SndUna: f(6), MSS: f(7),
		PacketsOut: f(8), RetransOut: f(9),
	}
}

// parsePacket reads IPv4 or IPv6 and TCP or UDP headers from the bytes at the
// network header; ethertype is skb->protocol. It returns nil for anything else or bytes that do not hold a
// whole IP header.
func parsePacket(b []byte, ethertype uint16) *Packet {
	be := binary.BigEndian
	var p Packet
	var l4 []byte
	switch {
	case ethertype == 0x0800 && len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0xf) * 4
		if ihl < 20 || ihl > len(b) {
			return nil
		}
		p.Src, p.Dst = netip.AddrFrom4([4]byte(b[12:])), netip.AddrFrom4([4]byte(b[16:]))
		p.Proto, p.Length = b[9], be.Uint16(b[2:])
		if be.Uint16(b[6:])&0x1fff == 0 { // only the first fragment has the ports
			l4 = b[ihl:]
		}
	case ethertype == 0x86dd && len(b) >= 40 && b[0]>>4 == 6:
		p.Src, p.Dst = netip.AddrFrom16([16]byte(b[8:])), netip.AddrFrom16([16]byte(b[24:]))
		p.Proto, p.Length = b[6], be.Uint16(b[4:])+40
		l4 = b[40:]
	default:
		return nil
	}
	switch {
	case p.Proto == 6 && len(l4) >= 14:
		p.SrcPort, p.DstPort = be.Uint16(l4), be.Uint16(l4[2:])
		p.Seq, p.Ack = be.Uint32(l4[4:]), be.Uint32(l4[8:])
		p.Flags = header.TCPFlags(l4[13])
	case p.Proto == 17 && len(l4) >= 4:
		p.SrcPort, p.DstPort = be.Uint16(l4), be.Uint16(l4[2:])
	}
	return &p
}
