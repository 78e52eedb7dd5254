package drill

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/header"
)

func (r *runner) packet(ctx context.Context, e *Event, w window) error {
	if e.Packet.Dir == Inbound {
		return r.inbound(e)
	}
	return r.outbound(ctx, e, w)
}

func (r *runner) inbound(e *Event) error {
	pkt, err := r.buildInbound(e.Packet)
	if err != nil {
		return r.fail(e, "packet", "error handling packet: "+err.Error())
	}
	if err := r.st.inject(pkt); err != nil {
		return err
	}
	r.res.Steps = append(r.res.Steps, Step{Event: e, Expected: r.st.now(), At: r.st.now(), Packet: scriptPacket(e.Packet)})
	return r.pollPending()
}

// buildInbound lays out the packet a < line sends, with live numbers: the seq as
// written (the script chooses the remote ISN), ack and SACK blocks shifted by the
// local ISN, TS ecr replaced by the live TS val of the outbound packet whose script
// val it names.
func (r *runner) buildInbound(p *Packet) ([]byte, error) {
	f := &r.flow
	src, dst := f.remote, f.local
	switch p.Proto {
	case ProtoUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		ip := ipLayer(src.Addr(), dst.Addr(), layers.IPProtocolUDP, p.ECN)
		return rawsock.Serialize(nil, ip, u, gopacket.Payload(make([]byte, p.UDP.Len)))
	case ProtoICMP:
		return r.buildICMP(p)
	}
	t := p.TCP
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: t.Seq, Window: uint16(*t.Win)}
	setFlags(tcp, t.Flags)
	if t.Ack != nil {
		tcp.Ack = *t.Ack + f.localISN
	}
	if t.Urg != nil {
		tcp.Urgent = uint16(*t.Urg)
	}
	opts, err := tcpOptionsLive(t.Options, func(v uint32) uint32 { return v + f.localISN }, f.liveEcr)
	if err != nil {
		return nil, err
	}
	tcp.Options = opts
	end := t.Seq + t.Len
	if t.Flags&(header.TCPFlagSYN|header.TCPFlagFIN) != 0 {
		end++
	}
	f.remoteNext = end
	ip := ipLayer(src.Addr(), dst.Addr(), layers.IPProtocolTCP, p.ECN)
	return rawsock.Serialize(nil, ip, tcp, gopacket.Payload(make([]byte, t.Len)))
}

// liveEcr maps a script TS ecr to the live TS val it echoes (packetdrill without
// --tcp_ts_ecr_scaled).
func (f *flow) liveEcr(v uint32) (uint32, error) {
	if v == 0 {
		return 0, nil
	}
	live, ok := f.ts[v]
	if !ok {
		return 0, fmt.Errorf("unable to infer live TS ecr %d: no outbound packet had TS val %d", v, v)
	}
	return live, nil
}

// ICMP types and codes for IPv6 (RFC 4443 §3) by packetdrill's IPv4 names.
var icmp6Types = map[string]uint8{"unreachable": 1, "time_exceeded": 3, "echo_request": 128, "echo_reply": 129}
var icmp6Codes = map[string]uint8{"net_unreachable": 0, "net_prohibited": 1, "host_prohibited": 1, "host_unreachable": 3, "port_unreachable": 4}

// buildICMP lays out an ICMP error quoting the script's connection: an IP header from
// the stack to pktlab and the first 20 bytes of the TCP segment seq:end (RFC 792: the
// IP header and at least 8 bytes; Linux reads the ports and seq from them).
func (r *runner) buildICMP(p *Packet) ([]byte, error) {
	f := &r.flow
	ic := p.ICMP
	var quoted []byte
	if ic.Quoted != nil {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.local.Port()), DstPort: layers.TCPPort(f.remote.Port()), Seq: ic.Quoted.Seq + f.localISN, ACK: true, Ack: f.remoteNext, Window: 502}
		q, err := rawsock.Serialize(nil, ipLayer(f.local.Addr(), f.remote.Addr(), layers.IPProtocolTCP, ""), tcp, gopacket.Payload(make([]byte, ic.Quoted.Len)))
		if err != nil {
			return nil, err
		}
		hl := 20
		if f.local.Addr().Is6() && !f.local.Addr().Is4In6() {
			hl = 40
		}
		quoted = q[:min(len(q), hl+20)]
	}
	src, dst := f.remote.Addr(), f.local.Addr()
	if src.Is4() {
		h := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(icmpTypes[ic.Type], icmpCodes[ic.Code])}
		if ic.Code == "frag_needed" {
			h.Seq = uint16(ic.MTU) // bytes 6-7: next-hop MTU (RFC 1191 §4)
		}
		return rawsock.Serialize(nil, ipLayer(src, dst, layers.IPProtocolICMPv4, p.ECN), h, gopacket.Payload(quoted))
	}
	typ, code := icmp6Types[ic.Type], icmp6Codes[ic.Code]
	rest := make([]byte, 4)
	if ic.Code == "frag_needed" {
		typ, code = 2, 0 // Packet Too Big (RFC 4443 §3.2)
		binary.BigEndian.PutUint32(rest, ic.MTU)
	}
	h := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	return rawsock.Serialize(nil, ipLayer(src, dst, layers.IPProtocolICMPv6, p.ECN), h, gopacket.Payload(append(rest, quoted...)))
}

func (r *runner) outbound(ctx context.Context, e *Event, w window) error {
	deadline := w.hi + w.tol + outboundGrace
	for {
		b, at, err := r.st.recv(ctx, deadline)
		if errors.Is(err, errTimeout) {
			return r.fail(e, "packet", "error handling packet: timed out waiting for outbound packet "+scriptPacket(e.Packet))
		}
		if err != nil {
			return err
		}
		lp, err := decodePacket(b)
		if err != nil || !r.flow.belongs(lp, e.Packet) {
			continue
		}
		msg := r.checkPacket(e.Packet, lp)
		shown := r.livePacketText(lp)
		r.res.Steps = append(r.res.Steps, Step{Event: e, Expected: w.lo, At: at, Packet: shown})
		if msg == "" && !w.holds(at) {
			msg = fmt.Sprintf("timing error: expected outbound packet at %s sec but happened at %s sec; tolerance %s sec", secs(w.lo), secs(at), secs(w.tol))
		}
		if msg != "" {
			if r.cfg.NonFatalPacket {
				r.res.Warnings = append(r.res.Warnings, fmt.Sprintf("%s:%d: warning handling packet: %s", e.Pos.File, e.Pos.Line, msg))
				return nil
			}
			r.fail(e, "packet", "error handling packet: "+msg)
			r.res.Mismatch.Script, r.res.Mismatch.Actual = scriptPacket(e.Packet), shown
			return errStop
		}
		return r.pollPending()
	}
}

// belongs reports whether a packet the stack sent is of the script's flow; other
// packets (IPv6 router solicitations, other connections) are skipped, as packetdrill
// skips them.
func (f *flow) belongs(lp *livePacket, want *Packet) bool {
	if lp.proto != want.Proto || lp.src != f.local.Addr().Unmap() && lp.src != f.local.Addr() {
		return false
	}
	switch lp.proto {
	case ProtoTCP:
		if lp.tcp.dst.Port() != f.remote.Port() {
			return false
		}
		if !f.localKnown {
			f.local = netip.AddrPortFrom(f.local.Addr(), lp.tcp.src.Port())
			f.localKnown = true
		}
		return lp.tcp.src.Port() == f.local.Port()
	case ProtoUDP:
		return lp.udpPorts[1] == f.remote.Port()
	}
	return true
}
