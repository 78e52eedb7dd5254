package host

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/tcpstate/clock"
)

// apply sends the segments of a machine's Output and passes on its events, in
// order. Called with h.mu held.
func (h *Host) apply(c *Conn, out tcpstate.Output) {
	segs := out.Segments
	for i := range out.Events {
		ev := out.Events[i]
		if ev.Kind == tcpstate.EventSegmentSent && len(segs) > 0 {
			seg := &segs[0]
			segs = segs[1:]
			var info tcpstate.Info
			if h.cfg.Events != nil {
				info = c.m.Info()
			}
			h.sendSegment(c.key.local, c.key.remote, seg, c.m.SendMSS(), func(frame []byte, at time.Time) {
				if h.cfg.Events != nil {
					ev := ev
					ev.Time = at
					h.cfg.Events(Event{Time: at, Kind: EventTCP, Local: c.key.local, Remote: c.key.remote,
						TCP: ev, Frame: frame, Info: info})
				}
			})
			continue
		}
		if h.cfg.Events != nil {
			e := Event{Time: ev.Time, Kind: EventTCP, Local: c.key.local, Remote: c.key.remote, TCP: ev, Info: c.m.Info()}
			if ev.Kind == tcpstate.EventSegmentReceived && h.inFrame != nil {
				e.Frame = append([]byte(nil), h.inFrame...)
			}
			h.cfg.Events(e)
		}
	}
	if len(out.Events) > 0 || len(out.Segments) > 0 {
		c.notify()
	}
	h.schedule(c)
	if c.l != nil && !c.queued && c.m.State() != tcpstate.SynReceived && c.m.State() != tcpstate.Listen {
		c.l.enqueue(c)
	}
}

// sendSegment builds the frame for seg and sends it to the next hop, resolving its
// link-layer address first if need be. sent, if not nil, is called as the frame
// leaves (just before the write; a write that fails is followed by an EventError),
// with a copy of it and the time: a frame waiting for its next hop's MAC is reported
// when that arrives and it goes, and one that never goes is never reported sent.
func (h *Host) sendSegment(local, remote netip.AddrPort, seg *tcpstate.Segment, mss int, sent func(frame []byte, at time.Time)) {
	hop := h.nextHop(remote.Addr())
	mac, known := h.neigh[hop]
	dst := mac
	if !known {
		dst = net.HardwareAddr{0, 0, 0, 0, 0, 0}
	}
	frame, err := h.ser.tcpFrame(h.mac, dst, local, remote, seg)
	if err != nil {
		h.hostEvent(EventError, fmt.Sprintf("build segment %v → %v: %v", local, remote, err))
		return
	}
	if h.cfg.BeforeSend != nil {
		ev := Event{Time: h.clk.Now(), Kind: EventTCP, Local: local, Remote: remote, Frame: frame,
			TCP: tcpstate.Event{Kind: tcpstate.EventSegmentSent, Segment: *seg}}
		if c := h.conns[connKey{local, remote}]; c != nil {
			ev.Info = c.m.Info()
		}
		if err := h.cfg.BeforeSend(ev); err != nil {
			return
		}
	}
	if !known {
		if len(frame) <= h.iface.MTU+ethernetHeaderSize {
			h.queue(hop, append([]byte(nil), frame...), sent) // a bigger one waits for TCP's retransmission
		}
		return
	}
	// The event goes out just before the frame, stamped then, so that whatever the
	// peer does in answer comes after it for anyone watching both.
	if sent != nil {
		sent(append([]byte(nil), frame...), h.clk.Now()) // a copy: the GSO write rewrites the checksum in place
	}
	if h.gso != nil {
		ipLen := 20
		if remote.Addr().Is6() {
			ipLen = 40
		}
		tcpLen := int(frame[ethernetHeaderSize+ipLen+12]>>4) * 4
		buf := h.ser.withRoom(vnetHdrLen)
		err = h.gso.write(buf, ipLen, tcpLen, len(seg.Payload), mss, remote.Addr().Is6())
	} else {
		err = h.sock.WriteFrame(h.ctx, frame)
	}
	if err != nil && h.ctx.Err() == nil {
		h.hostEvent(EventError, fmt.Sprintf("send segment %v → %v failed: %v", local, remote, err))
	}
}

// nextHop is dst itself when on-link, else the gateway of its family.
func (h *Host) nextHop(dst netip.Addr) netip.Addr {
	for _, p := range h.addrs {
		if p.Contains(dst) {
			return dst
		}
	}
	for _, p := range h.iface.Addrs {
		if p.Contains(dst) {
			return dst
		}
	}
	for _, g := range h.gws {
		if g.Is4() == dst.Is4() {
			return g
		}
	}
	return dst
}

// queue holds a frame until hop's MAC is known and asks for it (at most every
// 200 ms per neighbour).
func (h *Host) queue(hop netip.Addr, frame []byte, sent func([]byte, time.Time)) {
	p := h.pending[hop]
	if p == nil {
		p = &pendingFrames{}
		h.pending[hop] = p
	}
	if len(p.frames) < 256 {
		p.frames = append(p.frames, pendingFrame{frame, sent})
	}
	if !p.asked.IsZero() && clock.Since(h.clk, p.asked) < 200*time.Millisecond {
		return
	}
	p.asked = h.clk.Now()
	h.solicit(hop)
}

// solicit sends an ARP request (RFC 826) or a neighbour solicitation to the
// solicited-node multicast address (RFC 4861 §7.2.2).
func (h *Host) solicit(hop netip.Addr) {
	src, ok := h.Addr(hop.Is6())
	if !ok {
		h.hostEvent(EventError, fmt.Sprintf("no address of %v's family to resolve it from", hop))
		return
	}
	if hop.Is4() {
		eth := &layers.Ethernet{SrcMAC: h.mac, DstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeARP}
		arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: h.mac, SourceProtAddress: src.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: hop.AsSlice()}
		h.writeLayers(fmt.Sprintf("ARP request: who has %v? tell %v", hop, src), EventNeighbor, eth, arp)
		return
	}
	t := hop.As16()
	group := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
	g := group.As16()
	mac := net.HardwareAddr{0x33, 0x33, g[12], g[13], g[14], g[15]}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: hop.AsSlice(),
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: h.mac}}}
	h.writeICMP6(src, group, mac, layers.ICMPv6TypeNeighborSolicitation, ns, fmt.Sprintf("neighbour solicitation: who has %v? tell %v", hop, src), EventNeighbor)
}
