package host

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
)

// input handles one received frame. Called with h.mu held.
func (h *Host) input(frame []byte, at time.Time) {
	if len(frame) < 14 {
		return
	}
	dst := net.HardwareAddr(frame[:6])
	if !bytes.Equal(dst, h.mac) && dst[0]&1 == 0 {
		return // unicast to someone else
	}
	if err := h.dec.Decode(frame); err != nil {
		return
	}
	d := &h.dec.Headers
	if d.ARP() != nil {
		h.arpInput(d.ARP())
		return
	}
	src, dstIP := d.Addrs()
	srcMAC := d.Ethernet().Src()
	switch {
	case d.ICMPv4() != nil:
		if h.isOurs(dstIP) && !h.cfg.Shared {
			h.pingInput4(src, dstIP, d.ICMPv4())
		}
	case d.ICMPv6() != nil:
		h.icmp6Input(src, dstIP, d.ICMPv6(), srcMAC)
	case d.TCP() != nil:
		if !h.isOurs(dstIP) || d.Fragment {
			return
		}
		if h.holding {
			h.held = append(h.held, heldFrame{append([]byte(nil), frame...), at})
			return
		}
		h.learn(src, srcMAC, false)
		h.inFrame = frame
		h.tcpInput(src, dstIP, d.TCP())
		h.inFrame = nil
	}
}

// learn records a neighbour and sends frames that waited for it.
func (h *Host) learn(a netip.Addr, mac net.HardwareAddr, announce bool) {
	if !a.IsValid() || a.IsUnspecified() {
		return
	}
	old, ok := h.neigh[a]
	if ok && bytes.Equal(old, mac) {
		return
	}
	h.neigh[a] = append(net.HardwareAddr(nil), mac...)
	if announce {
		h.hostEvent(EventNeighbor, fmt.Sprintf("learnt %v is at %v", a, mac))
	}
	if p := h.pending[a]; p != nil {
		delete(h.pending, a)
		for _, f := range p.frames {
			copy(f.data[:6], mac)
			if f.sent != nil {
				f.sent(f.data, h.clk.Now()) // as it leaves, as sendSegment does
			}
			if err := h.sock.WriteFrame(h.ctx, f.data); err != nil && h.ctx.Err() == nil {
				h.hostEvent(EventError, fmt.Sprintf("send a frame that waited for %v failed: %v", a, err))
			}
		}
	}
}

// tcpInput demultiplexes a segment to its connection or listener, or answers it
// with a RST (RFC 9293 §3.10.7.1).
func (h *Host) tcpInput(src, dst netip.Addr, t header.TCP) {
	seg := segmentOf(t)
	local := netip.AddrPortFrom(dst, t.DstPort())
	remote := netip.AddrPortFrom(src, t.SrcPort())
	if c := h.conns[connKey{local, remote}]; c != nil {
		h.apply(c, c.m.HandleSegment(h.clk.Now(), &seg))
		h.reap()
		return
	}
	if l := h.listeners[local.Port()]; l != nil && seg.Flags&(header.TCPFlagSYN|header.TCPFlagACK|header.TCPFlagRST) == header.TCPFlagSYN {
		l.synInput(local, remote, &seg)
		return
	}
	if h.cfg.Shared && h.ports[local.Port()] == 0 && !h.ruled[local.Port()] {
		return // the kernel's own flow
	}
	// In shared mode a port the firewall silences stays ours to answer after its
	// connections are gone (closed, or forgotten as by a reboot): the kernel's RST
	// would be dropped, and without ours the peer would retransmit into a void.
	rst, ok := tcpstate.Reset(&seg)
	if !ok {
		return
	}
	h.sendSegment(local, remote, &rst, 0, func(frame []byte, at time.Time) {
		if h.cfg.Events != nil {
			h.cfg.Events(Event{Time: at, Kind: EventTCP, Local: local, Remote: remote, Frame: frame,
				TCP: tcpstate.Event{Time: at, Kind: tcpstate.EventSegmentSent, Segment: rst, Cause: "segment for no connection: RST (RFC 9293 §3.10.7.1)"}})
		}
	})
}

func (h *Host) arpInput(a header.ARP) {
	spa, tpa := a.SenderIP(), a.TargetIP()
	h.learn(spa, a.SenderHW(), a.Op() == header.ARPReply)
	if a.Op() != header.ARPRequest || h.cfg.Shared || !h.isOurs(tpa) {
		return
	}
	reply := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPReply, SourceHwAddress: h.mac, SourceProtAddress: tpa.AsSlice(),
		DstHwAddress: a.SenderHW(), DstProtAddress: a.SenderProto()}
	eth := &layers.Ethernet{SrcMAC: h.mac, DstMAC: a.SenderHW(), EthernetType: layers.EthernetTypeARP}
	h.writeLayers(fmt.Sprintf("ARP reply: %v is at %v", tpa, h.mac), EventNeighbor, eth, reply)
}

func (h *Host) pingInput4(src, dst netip.Addr, ic header.ICMPv4) {
	if ic.Type() != header.ICMPv4EchoRequest {
		return
	}
	mac, ok := h.neigh[h.nextHop(src)]
	if !ok {
		return
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: dst.AsSlice(), DstIP: src.AsSlice()}
	reply := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: ic.ID(), Seq: ic.Seq()}
	eth := &layers.Ethernet{SrcMAC: h.mac, DstMAC: mac, EthernetType: layers.EthernetTypeIPv4}
	h.writeLayers(fmt.Sprintf("echo reply to %v", src), EventPing, eth, ip, reply, gopacket.Payload(ic.Payload()))
}

// icmp6Input answers neighbour solicitations for our addresses (RFC 4861 §7.2.4)
// and echo requests, and learns from advertisements.
func (h *Host) icmp6Input(src, dst netip.Addr, ic header.ICMPv6, srcMAC net.HardwareAddr) {
	switch ic.Type() {
	case header.ICMPv6NeighborSolicit:
		target, ok := ic.Target()
		if !ok {
			return
		}
		h.learn(src, srcMAC, false)
		if h.cfg.Shared || !h.isOurs(target) || !src.IsValid() || src.IsUnspecified() {
			return
		}
		na := &layers.ICMPv6NeighborAdvertisement{Flags: 0x60, TargetAddress: target.AsSlice(),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: h.mac}}}
		h.writeICMP6(target, src, srcMAC, layers.ICMPv6TypeNeighborAdvertisement, na, fmt.Sprintf("neighbour advertisement: %v is at %v", target, h.mac), EventNeighbor)
	case header.ICMPv6NeighborAdvert:
		target, ok := ic.Target()
		if !ok {
			return
		}
		mac := srcMAC
		if o, ok := ic.NDOption(uint8(layers.ICMPv6OptTargetAddress)); ok && len(o) >= 6 {
			mac = net.HardwareAddr(o[:6]) // the option pads the address to 8 bytes (RFC 4861 §4.6.1)
		}
		h.learn(target, mac, true)
	case header.ICMPv6EchoRequest:
		if h.cfg.Shared || !h.isOurs(dst) {
			return
		}
		h.learn(src, srcMAC, false)
		reply := &layers.ICMPv6Echo{Identifier: ic.ID(), SeqNumber: ic.Seq()}
		h.writeICMP6(dst, src, srcMAC, layers.ICMPv6TypeEchoReply, reply, fmt.Sprintf("echo reply to %v", src), EventPing, gopacket.Payload(ic.Payload()))
	}
}

func (h *Host) writeICMP6(src, dst netip.Addr, dstMAC net.HardwareAddr, typ uint8, body gopacket.SerializableLayer, what string, k EventKind, more ...gopacket.SerializableLayer) {
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	ic.SetNetworkLayerForChecksum(ip)
	eth := &layers.Ethernet{SrcMAC: h.mac, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6}
	h.writeLayers(what, k, append([]gopacket.SerializableLayer{eth, ip, ic, body}, more...)...)
}

func (h *Host) writeLayers(what string, k EventKind, ls ...gopacket.SerializableLayer) {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serOpts, ls...); err != nil {
		h.hostEvent(EventError, fmt.Sprintf("build %s: %v", what, err))
		return
	}
	h.frameEvent(k, what, buf.Bytes(), h.clk.Now()) // as it leaves, as sendSegment does
	if err := h.sock.WriteFrame(h.ctx, buf.Bytes()); err != nil && h.ctx.Err() == nil {
		h.hostEvent(EventError, fmt.Sprintf("send %s failed: %v", what, err))
	}
}
